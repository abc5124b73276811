"""Dead letters without a server (fakes stand for Kafka and the inbox): each goes to the consumer's
own ``emk.<service>.dlq`` with its key, where it came from and why — a reason that quotes none
of the data (the log line says the same). The real Kafka: test_consumer_batches.py."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from emk_common.catalog import dlq_topic
from emk_common.events import Envelope, EventData
from emk_common.kafka import DeadLetter, EventConsumer
from emk_common.settings import ServiceSettings

# What a handler's exception may quote (a duplicate key's values, a peer's answer).
PERSONAL = "Иванов 123-456-789 01"


class DeadSettings(ServiceSettings):
    service_name: ClassVar[str] = "deadprobe"


class Probed(EventData):
    topic = "emk.dead.unit"
    name = "Probed"
    n: int


@dataclass
class _Record:
    value: bytes
    topic: str = Probed.topic
    partition: int = 2
    offset: int = 41
    key: bytes | None = b"agg-1"
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class _Broker:
    published: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, body: bytes, topic: str, **options: Any) -> None:
        self.published.append((topic, body, options))


class _Inbox:
    """Applies every effect (no MongoDB: nothing is a redelivery here)."""

    async def apply_once(self, handler: str, event_id: str, effect: Callable[[Any], Any]) -> bool:
        await effect(None)
        return True


def _consumer(handler: Callable[..., Awaitable[None]]) -> EventConsumer:
    settings = DeadSettings(
        kafka_bootstrap_servers="127.0.0.1:1",  # nobody there: nothing here connects
        consumer_max_attempts=2,
        consumer_backoff_seconds=0.001,
        consumer_backoff_max_seconds=0.001,
    )
    consumer = EventConsumer(settings, _Inbox())  # type: ignore[arg-type]
    consumer.on(Probed, name="dead.probe")(handler)
    return consumer


def _record(data: dict[str, Any]) -> _Record:
    envelope = Envelope.wrap(Probed(n=1), source="test", subject="agg-1")
    raw = envelope.model_dump(mode="json")
    raw["data"] = data
    return _Record(Envelope.model_validate(raw).to_bytes())


async def _dead_letter(
    handler: Callable[..., Awaitable[None]], record: _Record
) -> tuple[str, bytes, dict[str, Any]]:
    consumer = _consumer(handler)
    broker = _Broker()
    await consumer.dispatch(broker, record)  # type: ignore[arg-type]
    assert consumer.stats.dead_lettered == 1
    [published] = broker.published
    return published


async def _never(*_: Any) -> None:
    raise AssertionError("the handler is not reached")


def test_the_dead_letter_topic_is_the_consumers_own() -> None:
    assert dlq_topic("records") == "emk.records.dlq"


async def test_a_failing_handler_dead_letters_with_where_and_why_but_no_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails(*_: Any) -> None:
        raise ValueError(f"duplicate key: {PERSONAL}")

    caplog.set_level(logging.DEBUG)
    record = _record({"n": 1})
    topic, body, options = await _dead_letter(fails, record)
    assert topic == "emk.deadprobe.dlq"
    assert body == record.value
    assert options["key"] == b"agg-1"
    assert options["headers"] == {
        "original_topic": "emk.dead.unit",
        "original_partition": "2",
        "original_offset": "41",
        "handler": "dead.probe",
        "exc_class": "builtins.ValueError",
        "reason": "ValueError on every attempt",
    }
    assert "dead-lettering: ValueError on every attempt" in caplog.text
    assert PERSONAL not in caplog.text


async def test_an_event_that_cannot_apply_keeps_the_handlers_reason() -> None:
    async def unknown(*_: Any) -> None:
        raise DeadLetter("application app-1 is unknown")

    _, _, options = await _dead_letter(unknown, _record({"n": 1}))
    assert options["headers"]["exc_class"] == "emk_common.kafka.DeadLetter"
    assert options["headers"]["reason"] == "application app-1 is unknown"


async def test_an_unreadable_event_names_the_field_and_never_its_value() -> None:
    _, _, options = await _dead_letter(_never, _record({"n": PERSONAL}))
    assert options["headers"]["exc_class"] == "pydantic_core._pydantic_core.ValidationError"
    assert options["headers"]["reason"] == "n: int_parsing"
    assert options["headers"]["handler"] == "dead.probe"


async def test_an_unreadable_envelope_goes_there_too() -> None:
    topic, body, options = await _dead_letter(_never, _Record(b"{not json", key=None))
    assert (topic, body, options["key"]) == ("emk.deadprobe.dlq", b"{not json", None)
    assert options["headers"]["handler"] == "envelope"
    assert options["headers"]["original_topic"] == "emk.dead.unit"


def test_a_database_out_of_its_time_budget_is_an_outage_not_a_poison_event() -> None:
    """With every MongoDB operation bounded (``MONGODB_TIMEOUT_MS``), a slow database raises
    timeouts: they are waited out like an unreachable one, never counted toward the DLQ."""
    from pymongo.errors import (
        AutoReconnect,
        ExecutionTimeout,
        NetworkTimeout,
        OperationFailure,
        WTimeoutError,
    )

    from emk_common.kafka import RetryLater, _an_outage

    for away in (AutoReconnect("x"), NetworkTimeout("x"), ExecutionTimeout("x"), RetryLater("x")):
        assert _an_outage(away), type(away).__name__
    assert _an_outage(WTimeoutError("x"))
    for poison in (OperationFailure("bad $set"), ValueError("x"), KeyError("x")):
        assert not _an_outage(poison), type(poison).__name__
