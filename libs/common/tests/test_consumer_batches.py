"""The consumer against the real Kafka and MongoDB, batched (``consumer_batch_max`` 100) and one
by one (1): the same guarantees either way — a poison event reaches the DLQ alone, copies
apply once, an outage dead-letters nothing, offsets are committed, nudges follow commits.

Each test publishes its events in one producer batch to a one-partition topic of its own
before its consumer starts, so the consumer's first fetch holds all of them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.catalog import dlq_topic
from emk_common.events import Envelope, EventData
from emk_common.inbox import after_commit
from emk_common.kafka import ConsumerStats, RetryLater, ensure_topics
from emk_common.service import Runtime, create_app, create_runtime
from emk_common.settings import ServiceSettings
from emk_devstack.stack import Stack
from emk_testing import eventually

Doc = dict[str, Any]
BATCHED, ONE_BY_ONE = 100, 1
MODES = pytest.mark.parametrize("batch_max", [BATCHED, ONE_BY_ONE], ids=["batched", "one_by_one"])


class BatchProbeSettings(ServiceSettings):
    service_name: ClassVar[str] = "batchprobe"


@dataclass(frozen=True)
class Servers:
    kafka: str
    mongodb: str
    fetch_max_wait_ms: int


@pytest.fixture(scope="module")
def servers(stack: Stack | None) -> Servers:
    # Read before the unit tests' autouse fixture clears the environment.
    return Servers(
        os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        os.environ["MONGODB_URI"],
        int(os.environ.get("KAFKA_FETCH_MAX_WAIT_MS", "500")),
    )


@dataclass(frozen=True)
class Call:
    n: int
    event_id: str
    session: int  # id() of the session: one per transaction


Behaviour = Callable[[Any, list[Call]], Awaitable[None]]


@dataclass
class Harness:
    """A topic of its own and a consumer service built as the real ones are, whose handler
    records its calls, runs ``behaviour`` (a test makes it fail), then writes its effect."""

    servers: Servers
    batch_max: int
    behaviour: Behaviour | None = None
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    calls: list[Call] = field(default_factory=list)
    nudges: list[str] = field(default_factory=list)
    # Told of each nudge as it runs (a test checks what is committed by then).
    observe: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.topic = f"emk.test.batch.{self.suffix}"

        class Counted(EventData):
            n: int

        Counted.topic = self.topic
        Counted.name = "Counted"
        self.event = Counted
        self.db_name = f"batch_probe_{self.suffix}"

    def settings(self) -> BatchProbeSettings:
        return BatchProbeSettings(
            kafka_bootstrap_servers=self.servers.kafka,
            mongodb_uri=self.servers.mongodb,
            kafka_fetch_max_wait_ms=self.servers.fetch_max_wait_ms,
            kafka_topic_partitions=1,
            mongodb_database=self.db_name,
            kafka_consumer_group=f"{self.db_name}-group",
            consumer_batch_max=self.batch_max,
            consumer_max_attempts=3,
            consumer_backoff_seconds=0.05,
            consumer_backoff_max_seconds=0.2,
        )

    def envelope(self, n: int) -> Envelope:
        return Envelope.wrap(self.event(n=n), source="test", subject=f"agg-{n % 5}")

    async def publish(self, envelopes: list[Envelope]) -> None:
        """In one producer batch, so that a fetch returns them together."""
        await ensure_topics(self.settings(), [self.topic])
        producer = AIOKafkaProducer(bootstrap_servers=self.servers.kafka, linger_ms=50)
        await producer.start()
        try:
            sent = [
                await producer.send(self.topic, e.to_bytes(), key=e.subject.encode())
                for e in envelopes
            ]
            for future in sent:
                await future
        finally:
            await producer.stop()

    @asynccontextmanager
    async def consuming(self) -> AsyncIterator[Runtime]:
        runtime = create_runtime(self.settings())
        effects = runtime.collection("effects")

        @runtime.consumer.on(self.event, name="batch_probe.count")
        async def count(data: Any, envelope: Envelope, session: AsyncClientSession) -> None:
            self.calls.append(Call(data.n, envelope.id, id(session)))
            if self.behaviour is not None:
                await self.behaviour(data, self.calls)
            await effects.insert_one({"event_id": envelope.id, "n": data.n}, session=session)
            after_commit(lambda: self._nudged(envelope.id))

        app = create_app(runtime, title="batch probe", description="test")
        async with app.router.lifespan_context(app):
            yield runtime

    def _nudged(self, event_id: str) -> None:
        if self.observe is not None:
            self.observe(event_id)
        self.nudges.append(event_id)

    async def committed_offset(self) -> int:
        """The consumer group's committed offset on the topic's one partition (-1: none)."""
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.servers.kafka,
            group_id=self.settings().kafka_consumer_group,
            enable_auto_commit=False,
        )
        await reader.start()  # subscribed to nothing: it never joins the group
        try:
            found = await reader.committed(TopicPartition(self.topic, 0))
        finally:
            await reader.stop()
        return -1 if found is None else int(found)

    async def effects(self) -> list[Doc]:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(self.servers.mongodb)
        try:
            found = client[self.db_name]["effects"].find({}, {"_id": 0}).sort("n", 1)
            return await found.to_list()
        finally:
            await client.close()

    async def dead_letters(self) -> list[ConsumerRecord[bytes, bytes]]:
        """This test's records on the service's DLQ: every partition read to its end, those
        whose ``original_topic`` is this test's topic (the DLQ is the consumer's, shared by
        every topic it reads and by every test of this service)."""
        topic = dlq_topic(BatchProbeSettings.service_name)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.servers.kafka, group_id=None)
        await consumer.start()
        try:
            found = consumer.partitions_for_topic(topic)
            assert found, f"{topic} exists"
            partitions = [TopicPartition(topic, p) for p in sorted(found)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
            records: list[ConsumerRecord[bytes, bytes]] = []

            async def read_to_end() -> bool:
                batch = await consumer.getmany(*partitions, timeout_ms=200)
                for fetched in batch.values():
                    records.extend(fetched)
                return all([await consumer.position(p) >= ends[p] for p in partitions])

            await eventually(read_to_end, what="the DLQ read to its end")
            return [r for r in records if _headers(r).get("original_topic") == self.topic]
        finally:
            await consumer.stop()

    async def drop(self) -> None:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(self.servers.mongodb)
        try:
            await client.drop_database(self.db_name)
        finally:
            await client.close()


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {key: value.decode() for key, value in record.headers}


@pytest.fixture
async def harnesses() -> AsyncIterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for harness in made:
        await harness.drop()


def harness_for(
    made: list[Harness], servers: Servers, batch_max: int, behaviour: Behaviour | None = None
) -> Harness:
    harness = Harness(servers, batch_max, behaviour)
    made.append(harness)
    return harness


def effects_of(stats: ConsumerStats, expected_applied: int) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return stats.applied >= expected_applied

    return done


@MODES
async def test_one_poison_event_in_a_batch_of_fifty_reaches_the_dlq_alone(
    servers: Servers, harnesses: list[Harness], batch_max: int
) -> None:
    poison = 17

    async def poison_by_design(data: Any, calls: list[Call]) -> None:
        if data.n == poison:
            raise ValueError("this event is poison by design")

    harness = harness_for(harnesses, servers, batch_max, poison_by_design)
    sent = [harness.envelope(n) for n in range(50)]
    await harness.publish(sent)
    async with harness.consuming() as runtime:
        stats = runtime.consumer.stats

        async def settled() -> bool:
            return stats.applied == 49 and stats.dead_lettered == 1

        await eventually(settled, within=30, what="49 applied and one dead-lettered")

        async def committed() -> bool:
            return await harness.committed_offset() == 50

        await eventually(committed, within=30, what="the offsets committed past all fifty")

    found = await harness.effects()
    assert [doc["n"] for doc in found] == [n for n in range(50) if n != poison]  # once each
    assert [doc["event_id"] for doc in found] == [e.id for e in sent if e.id != sent[poison].id]
    assert stats.skipped == 0
    [dead] = await harness.dead_letters()
    # On the consumer's own DLQ, as it came (value and key), saying where from and why.
    assert dead.topic == "emk.batchprobe.dlq"
    assert json.loads(dead.value)["id"] == sent[poison].id
    assert dead.key == sent[poison].subject.encode()
    headers = _headers(dead)
    assert headers["original_topic"] == harness.topic
    # One partition, published in order: the poison is the topic's record 17.
    assert (headers["original_partition"], headers["original_offset"]) == ("0", str(poison))
    assert headers["exc_class"] == "builtins.ValueError"
    # Only the class: an exception's text may quote what the handler read.
    assert headers["reason"] == "ValueError on every attempt"
    assert "poison by design" not in str(dead.headers)
    assert headers["handler"] == "batch_probe.count"
    poison_calls = [c for c in harness.calls if c.n == poison]
    if batch_max == BATCHED:
        # The first fetch went into one transaction until the poison aborted it; then the
        # batch was applied one by one, and the poison retried there as it is alone.
        first = harness.calls[: poison + 1]
        assert [c.n for c in first] == list(range(poison + 1))
        assert len({c.session for c in first}) == 1
        assert stats.fallbacks == 1
        assert len(poison_calls) == 1 + 3
    else:
        assert (stats.batches, stats.fallbacks) == (0, 0)
        assert len(poison_calls) == 3
    assert len(harness.nudges) == 49

    # Offsets were committed after all that: a consumer started again gets only what is new.
    harness.calls.clear()
    marker = harness.envelope(1000)
    await harness.publish([marker])
    async with harness.consuming() as runtime:
        again = runtime.consumer.stats
        await eventually(effects_of(again, 1), within=30, what="the marker")
    assert [c.event_id for c in harness.calls] == [marker.id]
    assert (again.applied, again.skipped, again.dead_lettered) == (1, 0, 0)
    assert len(await harness.effects()) == 50
    assert len(await harness.dead_letters()) == 1


@MODES
async def test_copies_of_an_event_apply_once_within_a_batch_and_across_batches(
    servers: Servers, harnesses: list[Harness], batch_max: int
) -> None:
    harness = harness_for(harnesses, servers, batch_max)
    a, b, c = (harness.envelope(n) for n in range(3))
    await harness.publish([a, a, b, a])
    async with harness.consuming() as runtime:
        stats = runtime.consumer.stats

        async def first_fetch() -> bool:
            return stats.applied + stats.skipped == 4

        await eventually(first_fetch, within=30, what="the first four")
        assert (stats.applied, stats.skipped) == (2, 2)
        await harness.publish([b, c, c])

        async def second_fetch() -> bool:
            return stats.applied + stats.skipped == 7

        await eventually(second_fetch, within=30, what="the next three")
    assert (stats.applied, stats.skipped, stats.dead_lettered) == (3, 4, 0)
    assert [doc["event_id"] for doc in await harness.effects()] == [a.id, b.id, c.id]
    assert [call.event_id for call in harness.calls] == [a.id, b.id, c.id]  # never run twice
    assert harness.nudges == [a.id, b.id, c.id]
    if batch_max == BATCHED:
        assert (stats.batches, stats.fallbacks) == (2, 0)


@MODES
async def test_an_outage_mid_batch_neither_dead_letters_nor_loses_anything(
    servers: Servers, harnesses: list[Harness], batch_max: int
) -> None:
    """Event 10 waits on a peer that is down for twice the attempts that would dead-letter a
    failing handler; the others around it in the same fetch are not held back for ever."""
    waiting = 10
    outage_calls = 2 * 3

    async def peer_down_at_first(data: Any, calls: list[Call]) -> None:
        if data.n == waiting and sum(c.n == waiting for c in calls) <= outage_calls:
            raise RetryLater("peer: ConnectError")

    harness = harness_for(harnesses, servers, batch_max, peer_down_at_first)
    sent = [harness.envelope(n) for n in range(20)]
    await harness.publish(sent)
    async with harness.consuming() as runtime:
        stats = runtime.consumer.stats
        await eventually(effects_of(stats, 20), within=30, what="all twenty applied")
    found = await harness.effects()
    assert [doc["event_id"] for doc in found] == [e.id for e in sent]
    assert stats.dead_lettered == 0
    assert await harness.dead_letters() == []
    assert sum(c.n == waiting for c in harness.calls) == outage_calls + 1
    assert harness.nudges == [e.id for e in sent]
    if batch_max == BATCHED:
        assert stats.fallbacks == 1


async def test_nudges_follow_the_batch_commit_and_none_comes_from_an_aborted_batch(
    servers: Servers, harnesses: list[Harness]
) -> None:
    """Two fetches: the first commits as one batch, its nudges after its commit (all six
    handlers ran before the first nudge; another client sees every effect); in the second,
    a handler fails once, the batch aborts, and each event is nudged once, after its own
    commit one by one — nothing from the aborted attempt."""
    flaky = 9

    async def fails_once(data: Any, calls: list[Call]) -> None:
        if data.n == flaky and sum(c.n == flaky for c in calls) == 1:
            raise ValueError("a passing failure")

    harness = harness_for(harnesses, servers, BATCHED, fails_once)
    other: MongoClient[Doc] = MongoClient(servers.mongodb)
    seen: list[tuple[str, int, bool]] = []  # (event, handler calls so far, effect committed)

    def observe(event_id: str) -> None:
        committed = other[harness.db_name]["effects"].find_one({"event_id": event_id})
        seen.append((event_id, len(harness.calls), committed is not None))

    harness.observe = observe
    first = [harness.envelope(n) for n in range(6)]
    second = [harness.envelope(n) for n in range(6, 12)]
    try:
        await harness.publish(first)
        async with harness.consuming() as runtime:
            stats = runtime.consumer.stats
            await eventually(effects_of(stats, 6), within=30, what="the first batch")
            assert seen == [(e.id, 6, True) for e in first]
            seen.clear()
            await harness.publish(second)
            await eventually(effects_of(stats, 12), within=30, what="the second batch")
    finally:
        other.close()
    assert (stats.batches, stats.fallbacks) == (1, 1)
    assert [event_id for event_id, _, _ in seen] == [e.id for e in second]
    assert all(committed for _, _, committed in seen)
    # Aborted at the flaky one (calls 1..4 in the batch), then one by one, nudged as each
    # commits: the first after the batch's four calls and its own replay.
    assert [calls for _, calls, _ in seen] == [6 + 4 + 1, 12, 13, 14, 15, 16]
