"""Foundation benchmark: events through outbox → Kafka → inbox, against two baselines
measured in the same run on the same servers:

- ``raw``: an aiokafka produce → consume round trip, nothing else;
- ``direct``: the unsafe way — commit the state change, then publish right after it
  (an event is lost if the process dies in between), consumed through the same inbox.

Targets: the outbox path's throughput ≥ 80% of ``direct``; its p50 latency within the
state-change write time plus two raw broker round trips.

And the consumer alone, draining a backlog: batched (one transaction and one offset commit
per fetch, ``consumer_batch_max``) against one by one (``consumer_batch_max = 1``, the path
every event took before) and against a raw ``insert_many`` of the same documents. Targets:
batched ≥ 5× one by one, ≥ 50% of the raw insert rate.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.events import Envelope, EventData
from emk_common.inbox import after_commit, insert_effect
from emk_common.kafka import ensure_topics
from emk_common.service import create_app, create_runtime
from emk_common.settings import ServiceSettings


def fetch_max_wait_ms() -> int:
    """Every consumer here waits at the broker as long as the services' consumers do."""
    return int(os.environ.get("KAFKA_FETCH_MAX_WAIT_MS", "500"))


LATENCY_SAMPLES = 200
THROUGHPUT_EVENTS = 2000
WRITERS = 50
BACKLOG_EVENTS = 3000  # what the consumer drains, in each mode
BACKLOG_AGGREGATES = 100


class BenchSettings(ServiceSettings):
    service_name: ClassVar[str] = "bench"


def _event(topic: str) -> type[EventData]:
    class BenchTicked(EventData):
        aggregate_id: str
        seq: int

    BenchTicked.topic = topic
    BenchTicked.name = "BenchTicked"
    return BenchTicked


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


class Pipeline:
    """A producer runtime (with its relay) and a consumer runtime, in this process."""

    def __init__(self, bootstrap: str) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.topic = f"emk.bench.{suffix}"
        self.event = _event(self.topic)
        self.bootstrap = bootstrap
        self.done: dict[str, asyncio.Future[float]] = {}
        common: dict[str, Any] = {
            "kafka_consumer_group": f"bench-{suffix}",
            "outbox_poll_seconds": 0.25,
        }
        self.producer = create_runtime(
            BenchSettings(mongodb_database=f"bench_p_{suffix}", **common),
            produces=[self.topic],
            outbox_collections=["aggregates"],
        )
        self.consumer = create_runtime(
            BenchSettings(mongodb_database=f"bench_c_{suffix}", **common)
        )
        effects = self.consumer.collection("effects")

        @self.consumer.consumer.on(self.event, name="bench.effect")
        async def effect(data: Any, envelope: Envelope, session: AsyncClientSession) -> None:
            await effects.insert_one({"_id": envelope.id, "seq": data.seq}, session=session)
            # Latency is measured to the handler applying the effect inside its inbox
            # transaction; the commit that follows is one more MongoDB round trip.
            waiter = self.done.pop(envelope.id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())

        self.apps = [
            create_app(self.producer, title="bench producer", description="bench"),
            create_app(self.consumer, title="bench consumer", description="bench"),
        ]
        self.raw_producer: AIOKafkaProducer | None = None
        self.arrived: dict[str, asyncio.Future[float]] = {}
        self._watcher: asyncio.Task[None] | None = None

    async def _watch(self, consumer: AIOKafkaConsumer) -> None:
        """A bare consumer on the topic: when did each event reach Kafka's consumers?"""
        async for record in consumer:
            event_id = dict(record.headers).get("ce_id", b"").decode()
            waiter = self.arrived.pop(event_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())

    async def __aenter__(self) -> Pipeline:
        self._contexts = [app.router.lifespan_context(app) for app in self.apps]
        for context in self._contexts:
            await context.__aenter__()
        await self.producer.kafka.wait_connected()
        await self.consumer.kafka.wait_connected()
        self.raw_producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self.raw_producer.start()
        watcher = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            fetch_max_wait_ms=fetch_max_wait_ms(),
        )
        await watcher.start()
        await watcher.seek_to_end()
        self._watcher = asyncio.create_task(self._watch(watcher))
        self._watcher_consumer = watcher
        await self._warm_up()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await self._watcher_consumer.stop()
        if self.raw_producer is not None:
            await self.raw_producer.stop()
        for context in reversed(self._contexts):
            await context.__aexit__(None, None, None)

    async def _warm_up(self) -> None:
        for _ in range(5):
            await (await self.outbox_change("warm")).handled
            await (await self.direct_change("warm")).handled

    def _expect(self, envelope: Envelope) -> Delivery:
        loop = asyncio.get_running_loop()
        delivery = Delivery(arrived=loop.create_future(), handled=loop.create_future())
        self.arrived[envelope.id] = delivery.arrived
        self.done[envelope.id] = delivery.handled
        return delivery

    async def write_only(self, aggregate_id: str) -> float:
        started = time.perf_counter()
        envelope = Envelope.wrap(
            self.event(aggregate_id=aggregate_id, seq=0), source="b", subject=aggregate_id
        )
        await self.producer.collection("plain").update_one(
            {"_id": aggregate_id}, {"$inc": {"seq": 1}, "$set": {"last": envelope.id}}, upsert=True
        )
        return time.perf_counter() - started

    async def outbox_change(self, aggregate_id: str) -> Delivery:
        """Change the aggregate with its event in the outbox; the future resolves on delivery."""
        envelope = Envelope.wrap(
            self.event(aggregate_id=aggregate_id, seq=1), source="b", subject=aggregate_id
        )
        waiter = self._expect(envelope)
        outbox = self.producer.outbox
        update = outbox.update(aggregate_id, {"$inc": {"seq": 1}}, [envelope])
        await self.producer.collection("aggregates").update_one(
            {"_id": aggregate_id}, update, upsert=True
        )  # the write itself wakes the relay (emk_common.outbox.OutboxWrites)
        return waiter

    async def direct_change(self, aggregate_id: str) -> Delivery:
        """The unsafe way: commit, then publish; a crash in between loses the event."""
        envelope = Envelope.wrap(
            self.event(aggregate_id=aggregate_id, seq=1), source="b", subject=aggregate_id
        )
        waiter = self._expect(envelope)
        await self.producer.collection("direct").update_one(
            {"_id": aggregate_id}, {"$inc": {"seq": 1}}, upsert=True
        )
        await self.producer.broker.publish(
            envelope.to_bytes(),
            self.topic,
            key=aggregate_id.encode(),
            headers={"ce_id": envelope.id, "ce_type": envelope.type},
        )
        return waiter


@dataclass
class Delivery:
    arrived: asyncio.Future[float]  # a bare Kafka consumer received it
    handled: asyncio.Future[float]  # the service's handler applied it through the inbox


Change = Callable[[str], Awaitable[Delivery]]


@asynccontextmanager
async def _raw_pair(
    bootstrap: str, *, linger_ms: int = 0
) -> AsyncIterator[tuple[AIOKafkaProducer, AIOKafkaConsumer, str]]:
    """A bare producer and consumer on a fresh topic, warmed up by one message."""
    topic = f"emk.bench.raw.{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms(),
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"warm")
        await consumer.start()
        try:
            await consumer.getone()
            yield producer, consumer, topic
        finally:
            await consumer.stop()
    finally:
        await producer.stop()


async def raw_round_trips(bootstrap: str, samples: int) -> list[float]:
    timings = []
    async with _raw_pair(bootstrap) as (producer, consumer, topic):
        for i in range(samples):
            started = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            await consumer.getone()
            timings.append(time.perf_counter() - started)
    return timings


async def raw_throughput(bootstrap: str, events: int) -> float:
    async with _raw_pair(bootstrap, linger_ms=2) as (producer, consumer, topic):
        started = time.perf_counter()
        sends = [await producer.send(topic, str(i).encode()) for i in range(events)]
        await asyncio.gather(*sends)
        received = 0
        while received < events:
            batch = await consumer.getmany(timeout_ms=1000)
            received += sum(len(m) for m in batch.values())
        return events / (time.perf_counter() - started)


async def sequential(change: Change, samples: int) -> tuple[list[float], list[float]]:
    """One change at a time, from the start of the write: (to Kafka's consumers, to the handler)."""
    arrived, handled = [], []
    for i in range(samples):
        started = time.perf_counter()
        delivery = await change(f"seq-{i % 20}")
        arrived.append(await delivery.arrived - started)
        handled.append(await delivery.handled - started)
    return arrived, handled


async def throughput(change: Change, events: int) -> float:
    """Open loop: ``WRITERS`` concurrent writers issue every change, then all are awaited."""
    numbers = iter(range(events))
    started = time.perf_counter()
    pending: list[asyncio.Future[float]] = []

    async def writer(w: int) -> None:
        for i in numbers:
            pending.append((await change(f"agg-{w}-{i % 7}")).handled)

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    await asyncio.gather(*pending)
    return events / (time.perf_counter() - started)


async def consumer_rates() -> dict[str, Any]:
    """The consumer alone on a backlog of the same events, batched and one by one (each with
    a consumer group and database of its own), and a raw ``insert_many`` of the documents
    its handler writes, in chunks of a batch."""
    settings = BenchSettings()
    topic = f"emk.bench.backlog.{uuid.uuid4().hex[:8]}"
    event = _event(topic)
    backlog = [
        Envelope.wrap(
            event(aggregate_id=f"agg-{i % BACKLOG_AGGREGATES}", seq=i),
            source="b",
            subject=f"agg-{i % BACKLOG_AGGREGATES}",
        )
        for i in range(BACKLOG_EVENTS)
    ]
    await ensure_topics(settings, [topic])
    # Published in producer batches, as the relay publishes under load.
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        sent = [await producer.send(topic, e.to_bytes(), key=e.subject.encode()) for e in backlog]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    batch_max = settings.consumer_batch_max
    raw = await raw_insert_many(settings, backlog, batch_max)
    batched = await drain(topic, event, len(backlog), batch_max)
    one_by_one = await drain(topic, event, len(backlog), 1)
    return {
        "backlog_events": len(backlog),
        "partitions": settings.kafka_topic_partitions,
        "consumer_batch_max": batch_max,
        "batched": batched,
        "one_by_one": one_by_one,
        "raw_insert_many": {"events_per_s": round(raw, 1), "chunk": batch_max},
    }


def _effect_of(envelope: Envelope) -> dict[str, Any]:
    """The document the backlog's handler writes for an event (and the raw insert too)."""
    return {"_id": envelope.id, "seq": envelope.data["seq"]}


async def raw_insert_many(settings: ServiceSettings, backlog: list[Envelope], chunk: int) -> float:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri)
    db = client[f"bench_raw_{uuid.uuid4().hex[:8]}"]
    try:
        await db["effects"].insert_one({"_id": "warm"})
        documents = [_effect_of(e) for e in backlog]
        started = time.perf_counter()
        for i in range(0, len(documents), chunk):
            await db["effects"].insert_many(documents[i : i + chunk])
        return len(documents) / (time.perf_counter() - started)
    finally:
        await client.drop_database(db.name)
        await client.close()


async def drain(topic: str, event: type[EventData], count: int, batch_max: int) -> dict[str, Any]:
    """Events/s from the first handler call to the commit of the last effect."""
    suffix = uuid.uuid4().hex[:8]
    runtime = create_runtime(
        BenchSettings(
            mongodb_database=f"bench_d_{suffix}",
            kafka_consumer_group=f"bench-d-{suffix}",
            consumer_batch_max=batch_max,
        )
    )
    effects = runtime.collection("effects")
    finished: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    first_call: list[float] = []
    committed = 0

    def one_committed() -> None:
        nonlocal committed
        committed += 1
        if committed == count and not finished.done():
            finished.set_result(time.perf_counter())

    @runtime.consumer.on(event, name="bench.backlog")
    async def apply(data: Any, envelope: Envelope, session: AsyncClientSession) -> None:
        if not first_call:
            first_call.append(time.perf_counter())
        # As a service's handler writes new documents (emk_common.inbox.insert_effect): in a
        # batch, gathered into one insert_many at the end of its transaction.
        await insert_effect(effects, [_effect_of(envelope)], session)
        after_commit(one_committed)

    app = create_app(runtime, title="bench backlog", description="bench")
    async with app.router.lifespan_context(app):
        ended = await asyncio.wait_for(finished, timeout=600)
        stored = await effects.count_documents({})
        await runtime.db.client.drop_database(runtime.db.name)
    stats = runtime.consumer.stats
    if stored != count or stats.applied != count:
        raise RuntimeError(f"drained {stored} effects, {stats.applied} applied, of {count}")
    elapsed = ended - first_call[0]
    return {
        "consumer_batch_max": batch_max,
        "events_per_s": round(count / elapsed, 1),
        "seconds": round(elapsed, 3),
        "batched_transactions": stats.batches,
        "events_in_batched_transactions": stats.batched,
        "fallbacks": stats.fallbacks,
    }


async def run(bootstrap: str) -> dict[str, Any]:
    raw_latency = await raw_round_trips(bootstrap, LATENCY_SAMPLES)
    raw_tp = await raw_throughput(bootstrap, THROUGHPUT_EVENTS)
    async with Pipeline(bootstrap) as pipe:
        write = [await pipe.write_only(f"w-{i % 20}") for i in range(LATENCY_SAMPLES)]
        outbox_latency = await sequential(pipe.outbox_change, LATENCY_SAMPLES)
        direct_latency = await sequential(pipe.direct_change, LATENCY_SAMPLES)
        outbox_tp = await throughput(pipe.outbox_change, THROUGHPUT_EVENTS)
        direct_tp = await throughput(pipe.direct_change, THROUGHPUT_EVENTS)
    consumer = await consumer_rates()
    batched_rate = consumer["batched"]["events_per_s"]
    one_by_one_rate = consumer["one_by_one"]["events_per_s"]
    raw_insert_rate = consumer["raw_insert_many"]["events_per_s"]

    write_p = percentiles(write)
    raw_p = percentiles(raw_latency)
    outbox_arrived, outbox_handled = (percentiles(t) for t in outbox_latency)
    direct_arrived, direct_handled = (percentiles(t) for t in direct_latency)
    latency_budget = write_p["p50_ms"] + 2 * raw_p["p50_ms"]
    return {
        "kafka_fetch_max_wait_ms": fetch_max_wait_ms(),
        "notes": [
            "Latencies start before the state-change write. 'to_kafka_consumer': a bare "
            "aiokafka consumer received the event; 'to_inbox_handler': the service's handler "
            "applied it inside its inbox transaction.",
            "Tansu answers a waiting fetch only when the fetch wait ends, so every consumer "
            "(services and baselines alike) pays up to kafka_fetch_max_wait_ms; the raw round "
            "trip looks faster because its next fetch reaches the broker after the produce.",
            "Compare the outbox with direct publishing: the same consumer, the same broker.",
            "The pipeline's consumers run with the default consumer_batch_max (batched).",
            "consumer: one consumer draining a backlog published beforehand, timed from its "
            "first handler call to the commit of the last effect; its handler inserts one "
            "document with emk_common.inbox.insert_effect, as a service's handler writes new "
            "documents (in a batch: one insert_many per collection before the commit; one by "
            "one: an insert at once); no service's handler uses it yet. "
            "raw_insert_many writes the same documents, a batch's worth per call, and no inbox.",
        ],
        "samples": {
            "latency": LATENCY_SAMPLES,
            "throughput_events": THROUGHPUT_EVENTS,
            "writers": WRITERS,
        },
        "outbox": {
            "latency_to_kafka_consumer": outbox_arrived,
            "latency_to_inbox_handler": outbox_handled,
            "throughput_per_s": round(outbox_tp, 1),
        },
        "consumer": consumer,
        "baselines": {
            "raw_kafka_round_trip": {"latency": raw_p, "throughput_per_s": round(raw_tp, 1)},
            "direct_publish_after_commit": {
                "latency_to_kafka_consumer": direct_arrived,
                "latency_to_inbox_handler": direct_handled,
                "throughput_per_s": round(direct_tp, 1),
            },
            "state_change_write": {"latency": write_p},
        },
        "targets": {
            "consumer_batched_vs_one_by_one": {
                "ratio": round(batched_rate / one_by_one_rate, 2),
                "target": ">= 5",
                "met": batched_rate >= 5 * one_by_one_rate,
            },
            "consumer_batched_vs_raw_insert_many": {
                "ratio": round(batched_rate / raw_insert_rate, 3),
                "target": ">= 0.50",
                "met": batched_rate >= 0.5 * raw_insert_rate,
            },
            "throughput_vs_direct": {
                "ratio": round(outbox_tp / direct_tp, 3),
                "target": ">= 0.80",
                "met": outbox_tp >= 0.8 * direct_tp,
            },
            "p50_latency_budget_ms": {
                "outbox_p50_to_kafka_consumer_ms": outbox_arrived["p50_ms"],
                "outbox_p50_to_inbox_handler_ms": outbox_handled["p50_ms"],
                "budget_ms": round(latency_budget, 2),
                "rule": "state-change write p50 + 2 x raw broker round trip p50",
                "met_to_kafka_consumer": outbox_arrived["p50_ms"] <= latency_budget,
                "met_to_inbox_handler": outbox_handled["p50_ms"] <= latency_budget,
            },
        },
    }
