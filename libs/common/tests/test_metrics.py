"""``GET /metrics``: the Prometheus exposition of a service built by ``create_app``, and each
metric fed by the code that owns it — without a server (fakes stand for Kafka and MongoDB)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client.parser import text_string_to_metric_families

from emk_common import metrics
from emk_common.inbox import Inbox, InboxItem
from emk_common.kafka import EventConsumer
from emk_common.loops import PollingLoop
from emk_common.outbox import OutboxRelay
from emk_common.service import create_app, create_runtime
from emk_common.settings import ServiceSettings

SECRET_CODE = "K7Q2-ZX9P-4M1T"


class MetricsSettings(ServiceSettings):
    service_name: ClassVar[str] = "metricsprobe"


def _settings() -> MetricsSettings:
    return MetricsSettings(
        mongodb_uri="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100",
        mongodb_database="metrics_unit",
        kafka_bootstrap_servers="127.0.0.1:1",  # nobody there: nothing here connects
    )


def _app() -> Any:
    runtime = create_runtime(_settings())
    router = APIRouter()

    @router.get("/check/{code}")
    async def check(code: str) -> dict[str, bool]:
        return {"ok": len(code) > 0}

    return create_app(
        runtime, title="metrics", description="", routers=[router], secret_paths=["/check/{code}"]
    )


async def _scrape(app: Any) -> tuple[str, str]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://test"
    ) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return response.headers["content-type"], response.text


def _series(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of ``name`` (the exposition must parse: one family per name)."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found.append((dict(sample.labels), sample.value))
    return found


async def test_requests_are_counted_by_route_template_and_never_by_path() -> None:
    app = _app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://test"
    ) as client:
        assert (await client.get(f"/check/{SECRET_CODE}")).status_code == 200
        assert (await client.get(f"/nowhere/{SECRET_CODE}")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
    content_type, text = await _scrape(app)

    assert content_type.startswith("text/plain; version=0.0.4")
    assert SECRET_CODE not in text
    counts = _series(text, "http_server_request_duration_seconds_count")
    routed = [labels for labels, value in counts if labels.get("http_route") == "/check/{code}"]
    assert routed, counts
    assert routed[0]["http_request_method"] == "GET"
    assert routed[0]["http_response_status_code"] == "200"
    # An unrouted path gets no route label, never its path (the process's one meter provider
    # also holds the series of other apps built in this test run: only ours are looked at).
    routes = {labels.get("http_route") for labels, _ in counts}
    assert not any(route and route.startswith("/nowhere") for route in routes)
    assert all(route is None or SECRET_CODE not in route for route in routes)
    assert all(labels.get("service_name") for labels, _ in counts)
    # Only the three labels the dashboards use, and the service's name.
    assert {key for labels, _ in counts for key in labels} == {
        "http_route",
        "http_request_method",
        "http_response_status_code",
        "service_name",
    }
    # The probes and the scrapes are not requests anyone should see on a dashboard.
    assert all(labels.get("http_route") not in ("/healthz", "/metrics") for labels, _ in counts)
    # The old conventions' metric is dropped (its attributes could hold a raw path).
    assert "http_server_duration" not in text


@dataclass
class _Record:
    topic: str
    partition: int
    offset: int
    value: bytes = b"{not json"
    key: bytes | None = b"k"
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class _Broker:
    published: list[tuple[str, bytes]] = field(default_factory=list)
    subscribers: list[Any] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)  # key, headers

    async def publish(self, body: bytes, topic: str, **options: Any) -> None:
        self.published.append((topic, body))
        self.options.append(options)


async def test_a_dead_lettered_record_is_counted_by_its_source_topic() -> None:
    consumer = EventConsumer(_settings(), Inbox.__new__(Inbox))
    broker = _Broker()
    before = _dlq_count("emk.metrics.unit")

    # An envelope that cannot be read is dead-lettered at once.
    await consumer.dispatch(broker, _Record("emk.metrics.unit", 0, 7))  # type: ignore[arg-type]

    # To the consumer's own DLQ, not the source topic's; the source is in the headers.
    assert broker.published == [("emk.metricsprobe.dlq", b"{not json")]
    [options] = broker.options
    assert options["key"] == b"k"
    assert options["headers"]["original_topic"] == "emk.metrics.unit"
    assert (options["headers"]["original_partition"], options["headers"]["original_offset"]) == (
        "0",
        "7",
    )
    assert _dlq_count("emk.metrics.unit") == before + 1


def _dlq_count(topic: str) -> float:
    return _total("emk_dlq_records_total", topic=topic)


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int


class _KafkaConsumer:
    """What the lag reads of an aiokafka consumer: its assignment and highwaters."""

    def __init__(self, highwaters: dict[_TP, int | None]) -> None:
        self._highwaters = highwaters

    def assignment(self) -> set[_TP]:
        return set(self._highwaters)

    def highwater(self, tp: _TP) -> int | None:
        return self._highwaters[tp]


@dataclass
class _Subscriber:
    consumer: Any


def test_consumer_lag_is_the_highwater_less_what_was_handled_per_assigned_partition() -> None:
    consumer = EventConsumer(_settings(), Inbox.__new__(Inbox))
    a0, a1, b0 = _TP("emk.a", 0), _TP("emk.a", 1), _TP("emk.b", 0)
    kafka = _KafkaConsumer({a0: 10, a1: 5, b0: None})
    broker = _Broker(subscribers=[_Subscriber(kafka), _Subscriber(None)])
    consumer._handled.update({("emk.a", 0): 4, ("emk.a", 1): 5, ("emk.gone", 0): 1})

    readings = consumer.lag(broker)  # type: ignore[arg-type]

    assert sorted((v, a["topic"], a["partition"]) for v, a in readings) == [  # type: ignore[index]
        (0, "emk.a", "1"),
        (6, "emk.a", "0"),
    ]  # emk.b has no highwater yet (never fetched); emk.gone is no longer assigned here
    assert ("emk.gone", 0) not in consumer._handled


class _Session:
    async def with_transaction(self, callback: Callable[[Any], Any]) -> None:
        await callback(self)


class _Client:
    @contextlib.asynccontextmanager
    async def start_session(self) -> AsyncIterator[_Session]:
        yield _Session()


class _InboxCollection:
    """Holds inbox marks like the real collection (no transactions: nothing fails here)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def find(self, query: dict[str, Any], *_: Any, **__: Any) -> AsyncIterator[dict[str, str]]:
        wanted = [k for k in query["_id"]["$in"] if k in self.keys]

        async def found() -> AsyncIterator[dict[str, str]]:
            for key in wanted:
                yield {"_id": key}

        return found()

    async def insert_many(self, docs: list[dict[str, Any]], **_: Any) -> None:
        self.keys.update(d["_id"] for d in docs)


async def test_redeliveries_the_inbox_skips_are_counted() -> None:
    inbox = Inbox(_Client(), _InboxCollection())  # type: ignore[arg-type]
    ran: list[str] = []

    def item(event_id: str) -> InboxItem:
        async def effect(_: Any) -> None:
            ran.append(event_id)

        return InboxItem("handler", event_id, effect)

    before = _total("emk_inbox_duplicates_total")
    assert await inbox.apply_batch([item("e1"), item("e2")]) == [True, True]
    assert await inbox.apply_batch([item("e1"), item("e3"), item("e3")]) == [False, True, False]
    assert ran == ["e1", "e2", "e3"]
    assert _total("emk_inbox_duplicates_total") == before + 2


def _total(name: str, **labels: str) -> float:
    text = metrics.setup_metrics("metricsprobe").scrape().decode()
    return sum(
        value
        for found, value in _series(text, name)
        if all(found.get(k) == v for k, v in labels.items())
    )


class _Cursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self._docs = docs

    async def to_list(self, _: int) -> list[dict[str, Any]]:
        return self._docs


class _OutboxCollection:
    """Answers the relay's backlog aggregation with what it was given."""

    def __init__(self, name: str, totals: list[dict[str, Any]]) -> None:
        self.name = name
        self.totals = totals
        self.pipelines: list[list[dict[str, Any]]] = []

    async def aggregate(self, pipeline: list[dict[str, Any]]) -> _Cursor:
        self.pipelines.append(pipeline)
        return _Cursor(self.totals)


class _Leases:
    lease_seconds = 10.0

    def owned(self) -> list[int]:
        return [0, 3]


async def test_the_outbox_backlog_is_what_the_relay_counted_and_its_age_grows() -> None:
    staged = time.time() - 90
    books = _OutboxCollection("books", [{"_id": None, "pending": 3, "oldest": staged}])
    empty = _OutboxCollection("shares", [])
    relay = OutboxRelay([books, empty], _Leases(), publisher=None)  # type: ignore[arg-type, list-item]
    await relay.observe_backlog()
    assert books.pipelines[0][0] == {"$match": {"_outbox_shard": {"$in": [0, 3]}}}
    unwatch = [
        metrics.watch(metrics.OUTBOX_PENDING, relay.pending_readings),
        metrics.watch(metrics.OUTBOX_OLDEST_AGE, relay.oldest_age_readings),
    ]
    try:
        text = metrics.setup_metrics("metricsprobe").scrape().decode()
    finally:
        for stop in unwatch:
            stop()
    pending = {labels["collection"]: v for labels, v in _series(text, "emk_outbox_pending_events")}
    assert pending == {"books": 3, "shares": 0}
    ages = {labels["collection"]: v for labels, v in _series(text, "emk_outbox_oldest_age_seconds")}
    assert ages["shares"] == 0
    assert 89 <= ages["books"] < 120
    # Unwatched (the service stopped): the series go with it.
    after = metrics.setup_metrics("metricsprobe").scrape().decode()
    assert "emk_outbox_pending_events{" not in after


async def test_a_scheduler_publishes_how_late_its_round_was_then_zero() -> None:
    lag = metrics.SchedulerLag("unit")
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    seen: list[float] = []  # what a scrape shows at the start of rounds 2 and 3
    done = asyncio.Event()

    rounds: list[int] = []

    async def round_() -> None:
        rounds.append(len(rounds) + 1)
        if len(rounds) == 1:
            lag.late(now - timedelta(seconds=42), now)
            lag.late(now - timedelta(seconds=7), now)
            lag.late(None, now)
            return
        seen.append(_total("emk_scheduler_lag_seconds", scheduler="unit"))
        if len(seen) == 2:
            done.set()

    task = asyncio.create_task(PollingLoop("unit", round_, 0.01, lag=lag).run())
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert seen == [42.0, 0.0]  # the latest item of round 1; none in round 2


def test_every_name_the_dashboards_read_is_exported_once_with_the_service_name() -> None:
    metrics.DELIVERIES.add(1, {"channel": "sms", "outcome": "sent"})
    metrics.DEADLINE_BREACHES.add(1, {"deadline": "review"})
    metrics.DLQ_RECORDS.add(1, {"topic": "emk.metrics.names"})
    metrics.INBOX_DUPLICATES.add(1)
    metrics.SchedulerLag("names").publish()
    unwatch = metrics.watch(metrics.CONSUMER_LAG, lambda: [(3, {"topic": "t", "partition": "0"})])
    try:
        text = metrics.setup_metrics("metricsprobe").scrape().decode()
    finally:
        unwatch()
    families = [f.name for f in text_string_to_metric_families(text)]
    assert len(families) == len(set(families)), families
    for name in (
        "emk_deliveries",
        "emk_deadline_breaches",
        "emk_dlq_records",
        "emk_inbox_duplicates",
        "emk_scheduler_lag_seconds",
        "emk_consumer_lag",
    ):
        assert name in families, name
    assert _series(text, "emk_consumer_lag") == [
        ({"topic": "t", "partition": "0", "service_name": _service_name(text)}, 3.0)
    ]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.labels.get("service_name"), sample


def _service_name(text: str) -> str:
    """The process's service name (the first service made in it names the meter provider)."""
    [(labels, _)] = _series(text, "target_info")
    return labels["service_name"]


def test_a_reader_that_fails_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> list[metrics.Reading]:
        raise RuntimeError("no")

    unwatch = metrics.watch(metrics.CONSUMER_LAG, broken)
    try:
        metrics.setup_metrics("metricsprobe").scrape()
    finally:
        unwatch()
    assert "a reader of emk.consumer.lag failed: RuntimeError" in caplog.text
