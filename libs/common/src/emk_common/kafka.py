"""Kafka through FastStream: the broker, a background connection, publishing, consuming.

Consuming is at-least-once with effectively-once effects:
- offsets are committed only after the handler's effect is durable (``NACK_ON_ERROR``
  with auto-commit off: FastStream commits after the handler returns);
- each handler runs through the :class:`~emk_common.inbox.Inbox`, so a redelivery is skipped;
- a failing handler is retried with exponential backoff, a bounded number of times, then
  the record goes to ``<topic>.dlq`` with the error in its headers and the consumer moves on;
- while MongoDB is unreachable nothing is dead-lettered: the handler waits and retries,
  and if that lasts, the record is handed back to Kafka (``nack``) after a pause; a handler
  that depends on another service raises :class:`RetryLater` while that peer is down or
  slow, and is treated the same way (an outage is nobody's poison message).
New consumer groups start from the earliest offset (aiokafka's ``latest`` skips events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import ConnectionFailure

from emk_common.catalog import dlq_topic
from emk_common.events import Envelope, EventData
from emk_common.inbox import Inbox
from emk_common.settings import ServiceSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

E = TypeVar("E", bound=EventData)


class RetryLater(Exception):  # noqa: N818 - an instruction, not an error
    """Raised by a handler when something outside the event failed (a peer service down or
    slow, a race it will win next time): retried with backoff until it passes, never
    dead-lettered. The message names the cause for the log; it must not quote data."""


class DeadLetter(Exception):  # noqa: N818 - an instruction, not an error
    """Raised by a handler for an event it can never apply (it names an aggregate nobody
    has): straight to the dead-letter topic, without the retries that could not help."""


Handler = Callable[[E, Envelope, AsyncClientSession], Awaitable[None]]


def create_broker(settings: ServiceSettings, tracer_provider: TracerProvider | None) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"emk-{settings.service_name}",
        acks="all",
        linger_ms=2,
        request_timeout_ms=10_000,
        allow_auto_create_topics=False,
        middlewares=(KafkaTelemetryMiddleware(tracer_provider=tracer_provider),),
        graceful_timeout=10.0,
        logger=logging.getLogger(f"emk.{settings.service_name}.kafka"),
        log_level=logging.DEBUG,
        description=f"ЭМК {settings.service_name} events",
    )


async def ensure_topics(settings: ServiceSettings, topics: Iterable[str]) -> None:
    """Create the topics (and their DLQs) that are missing; in a cluster the operator's
    manifests normally made them already, and this is a no-op."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=5000
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = sorted({t for topic in topics for t in (topic, dlq_topic(topic))} - existing)
        for topic in wanted:  # one by one: a racing replica's creation is not our failure
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            topic,
                            settings.kafka_topic_partitions,
                            settings.kafka_topic_replication,
                        )
                    ]
                )
    finally:
        await admin.close()


class KafkaConnection:
    """Starts the broker in the background and keeps trying until Kafka answers.

    FastStream's ``broker.start()`` fails at once when no broker answers; a service must
    start and serve without Kafka (the outbox holds its events meanwhile).
    """

    def __init__(
        self, broker: KafkaBroker, settings: ServiceSettings, topics: Iterable[str]
    ) -> None:
        self.broker = broker
        self._settings = settings
        self._topics = set(topics)
        self._connected = asyncio.Event()

    def add_topics(self, topics: Iterable[str]) -> None:
        self._topics.update(topics)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                await ensure_topics(self._settings, self._topics)
                await self.broker.start()
            except Exception as exc:
                log.info(
                    "Kafka not reachable yet (%s); retrying in %.1f s", type(exc).__name__, delay
                )
                await _quietly(self.broker.stop())
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._connected.set()
            log.info("connected to Kafka at %s", self._settings.kafka_bootstrap_servers)
            return

    async def state(self) -> str:
        if not self.connected:
            return "connecting"
        return "connected" if await self.broker.ping(timeout=1.0) else "unreachable"


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception:
        log.debug("ignored error while resetting the broker", exc_info=True)


class BrokerPublisher:
    """The outbox relay's :class:`~emk_common.outbox.Publisher`, over the FastStream broker."""

    def __init__(self, connection: KafkaConnection) -> None:
        self._connection = connection

    @property
    def ready(self) -> bool:
        return self._connection.connected

    async def publish(self, topic: str, key: str, body: bytes, headers: dict[str, str]) -> None:
        await self._connection.broker.publish(body, topic, key=key.encode(), headers=headers)


@dataclass(frozen=True)
class _Registration(Generic[E]):
    name: str
    event: type[E]
    handler: Handler[E]


class EventConsumer:
    """Declares a service's event handlers; one Kafka subscriber per topic."""

    def __init__(self, settings: ServiceSettings, inbox: Inbox) -> None:
        self._settings = settings
        self._inbox = inbox
        self.group_id = settings.kafka_consumer_group
        self._handlers: dict[str, list[_Registration[Any]]] = defaultdict(list)

    def on(self, event: type[E], name: str | None = None) -> Callable[[Handler[E]], Handler[E]]:
        """Register ``handler`` for ``event``; ``name`` (default: its qualified name) is its
        inbox key, so renaming a handler replays history into it: pass the old name."""

        def register(handler: Handler[E]) -> Handler[E]:
            handler_name = name or f"{handler.__module__}.{handler.__qualname__}"
            self._handlers[event.event_type()].append(_Registration(handler_name, event, handler))
            return handler

        return register

    @property
    def topics(self) -> list[str]:
        return sorted(
            {cls.topic for regs in self._handlers.values() for cls in (r.event for r in regs)}
        )

    def subscribe(self, broker: KafkaBroker) -> None:
        for topic in self.topics:
            broker.subscriber(
                topic,
                group_id=self.group_id,
                auto_offset_reset="earliest",
                ack_policy=AckPolicy.NACK_ON_ERROR,
                fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
                title=f"{self._settings.service_name}:{topic}",
            )(self._make_entrypoint(broker))

    def _make_entrypoint(self, broker: KafkaBroker) -> Callable[[KafkaMessage], Awaitable[None]]:
        async def consume(message: KafkaMessage) -> None:
            await self.dispatch(broker, message.raw_message)

        return consume

    async def dispatch(self, broker: KafkaBroker, record: Any) -> None:
        try:
            envelope = Envelope.from_bytes(record.value)
        except ValidationError as exc:
            await self._dead_letter(broker, record, exc, handler="envelope")
            return
        for registration in self._handlers.get(envelope.type, ()):
            with tracer.start_as_current_span(f"handle {envelope.type}") as span:
                span.set_attribute("emk.handler", registration.name)
                span.set_attribute("messaging.message.id", envelope.id)
                await self._handle(broker, record, envelope, registration)

    async def _handle(
        self, broker: KafkaBroker, record: Any, envelope: Envelope, reg: _Registration[Any]
    ) -> None:
        try:
            data = reg.event.model_validate(envelope.data)
        except ValidationError as exc:
            await self._dead_letter(broker, record, exc, handler=reg.name)
            return
        settings = self._settings
        attempt = 0
        outage_attempt = 0
        outage_waited = 0.0
        while True:
            try:
                await self._inbox.apply_once(
                    reg.name, envelope.id, lambda session: reg.handler(data, envelope, session)
                )
                return
            except DeadLetter as exc:
                log.error(
                    "handler %s cannot apply event %s; dead-lettering: %s",
                    reg.name,
                    envelope.id,
                    _safe_message(exc),
                )
                await self._dead_letter(broker, record, exc, handler=reg.name)
                return
            except (ConnectionFailure, RetryLater) as exc:
                # Our own database or a peer is away: not the event's fault, never dead-lettered.
                if outage_waited >= 30:
                    raise  # nack: Kafka hands the record back; the loop below paces it
                delay = min(
                    settings.consumer_backoff_seconds * 2 ** (outage_attempt),
                    settings.consumer_backoff_max_seconds,
                )
                outage_attempt += 1
                log.warning(
                    "handler %s waits on %s (%s); retrying in %.2f s",
                    reg.name,
                    envelope.type,
                    _safe_message(exc) if isinstance(exc, RetryLater) else "MongoDB unreachable",
                    delay,
                )
                await asyncio.sleep(delay)
                outage_waited += delay
            except Exception as exc:
                attempt += 1
                if attempt >= settings.consumer_max_attempts:
                    # The same safe summary as the DLQ header: an exception's text can quote data.
                    log.error(
                        "handler %s failed %d times on event %s; dead-lettering: %s: %s",
                        reg.name,
                        attempt,
                        envelope.id,
                        type(exc).__name__,
                        _safe_message(exc),
                    )
                    await self._dead_letter(broker, record, exc, handler=reg.name)
                    return
                delay = min(
                    settings.consumer_backoff_seconds * 2 ** (attempt - 1),
                    settings.consumer_backoff_max_seconds,
                )
                log.warning(
                    "handler %s failed on event %s (attempt %d): %s; retrying in %.2f s",
                    reg.name,
                    envelope.id,
                    attempt,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    @staticmethod
    async def _dead_letter(
        broker: KafkaBroker, record: Any, exc: BaseException, *, handler: str
    ) -> None:
        headers = {
            "original_topic": record.topic,
            "original_partition": str(record.partition),
            "original_offset": str(record.offset),
            "handler": handler,
            "exc_class": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "exc_message": _safe_message(exc),
        }
        await broker.publish(record.value, dlq_topic(record.topic), key=record.key, headers=headers)


def _safe_message(exc: BaseException) -> str:
    """What failed, without quoting the data: a validation error's text would echo input."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors(include_input=False)
        )[:300]
    return str(exc)[:300]
