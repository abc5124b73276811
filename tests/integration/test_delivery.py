"""One event end to end through the real servers: outbox → Kafka → inbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from emk_common.catalog import dlq_topic
from emk_common.events import Envelope
from emk_common.kafka import DeadLetter, RetryLater
from emk_common.outbox import OUTBOX_FIELD, PENDING_FIELD
from emk_testing import eventually

from .probe import ProbeSettings, consumer_app, new_probe, producer_app, running

FAST: dict[str, Any] = {
    "consumer_backoff_seconds": 0.05,
    "consumer_backoff_max_seconds": 0.2,
    "consumer_max_attempts": 3,
    "outbox_lease_seconds": 2.0,
}


async def effects(mongo: AsyncMongoClient[dict[str, Any]], db: str) -> list[dict[str, Any]]:
    return await mongo[db]["effects"].find({}, {"_id": 0}).sort("value", 1).to_list()


async def test_event_arrives_and_its_effect_is_recorded_once(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    probe = new_probe()
    producer, _ = producer_app(probe, **FAST)
    consumer, _ = consumer_app(probe, **FAST)
    async with running(producer) as http, running(consumer):
        response = await http.post("/counters/c1/increment")
        assert response.status_code == 201
        event_id = response.json()["event_id"]

        found = await eventually(lambda: effects(mongo, probe.consumer_db), what="the effect")
        assert found == [{"event_id": event_id, "counter_id": "c1", "value": 1}]
        stored = await mongo[probe.producer_db]["counters"].find_one({"_id": "c1"})
        assert stored is not None
        await eventually(
            lambda: _outbox_drained(mongo, probe.producer_db, "c1"), what="the outbox to drain"
        )
    assert await effects(mongo, probe.consumer_db) == found


async def test_the_write_itself_wakes_the_relay(mongo: AsyncMongoClient[dict[str, Any]]) -> None:
    """No store calls anything after its write: the relay, polling only every 30 s here
    (and renewing its leases every 15 s), publishes at once."""
    probe = new_probe()
    slow = {**FAST, "outbox_poll_seconds": 30.0, "outbox_lease_seconds": 60.0}
    producer, runtime = producer_app(probe, **slow)
    async with running(producer) as http:
        await eventually(lambda: _ready_to_publish(runtime), within=20, what="the relay")
        started = asyncio.get_running_loop().time()
        await http.post("/counters/c1/increment")
        await eventually(
            lambda: _outbox_drained(mongo, probe.producer_db, "c1"), what="the event published"
        )
        assert asyncio.get_running_loop().time() - started < 5


async def _ready_to_publish(runtime: Any) -> bool:
    relay = runtime.relay
    return runtime.kafka.connected and relay is not None and bool(relay.owned_shards())


async def _outbox_drained(mongo: AsyncMongoClient[dict[str, Any]], db: str, doc_id: str) -> bool:
    doc = await mongo[db]["counters"].find_one({"_id": doc_id})
    return doc is not None and not doc.get(OUTBOX_FIELD) and PENDING_FIELD not in doc


async def test_the_same_event_delivered_twice_is_applied_once(
    mongo: AsyncMongoClient[dict[str, Any]], kafka_bootstrap: str
) -> None:
    probe = new_probe()
    consumer, _ = consumer_app(probe, **FAST)
    first = Envelope.wrap(probe.event(counter_id="c1", value=1), source="test", subject="c1")
    second = Envelope.wrap(probe.event(counter_id="c1", value=2), source="test", subject="c1")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with running(consumer):
            for envelope in (first, first, second, first):
                await producer.send_and_wait(probe.topic, envelope.to_bytes(), key=b"c1")
            await eventually(
                lambda: _count(mongo, probe.consumer_db, 2), what="both distinct events"
            )
            # The duplicates were sent before the second event and the last one after it;
            # once a marker behind them all is applied, every duplicate has been seen.
            marker = Envelope.wrap(probe.event(counter_id="c1", value=3), source="t", subject="c1")
            await producer.send_and_wait(probe.topic, marker.to_bytes(), key=b"c1")
            await eventually(lambda: _count(mongo, probe.consumer_db, 3), what="the marker")
    finally:
        await producer.stop()
    assert [e["event_id"] for e in await effects(mongo, probe.consumer_db)] == [
        first.id,
        second.id,
        marker.id,
    ]


async def _count(mongo: AsyncMongoClient[dict[str, Any]], db: str, expected: int) -> bool:
    return await mongo[db]["effects"].count_documents({}) == expected


@pytest.mark.broker_restart
async def test_with_the_broker_down_writes_succeed_and_events_follow_later(
    mongo: AsyncMongoClient[dict[str, Any]], broker_control: Any
) -> None:
    probe = new_probe()
    await asyncio.to_thread(broker_control.stop)
    try:
        producer, _ = producer_app(probe, **FAST)
        async with running(producer) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["info"]["kafka"] != "connected"
            for _ in range(3):
                response = await http.post("/counters/c1/increment")
                assert response.status_code == 201
            doc = await mongo[probe.producer_db]["counters"].find_one({"_id": "c1"})
            assert doc is not None
            assert doc["value"] == 3
            assert [e["id"] for e in doc[OUTBOX_FIELD]] != []
            assert len(doc[OUTBOX_FIELD]) == 3

            await asyncio.to_thread(broker_control.start)
            consumer, _ = consumer_app(probe, **FAST)
            async with running(consumer):
                await eventually(
                    lambda: _count(mongo, probe.consumer_db, 3),
                    within=60,
                    what="the events held during the outage",
                )
    finally:
        await asyncio.to_thread(broker_control.ensure_running)
    assert [e["value"] for e in await effects(mongo, probe.consumer_db)] == [1, 2, 3]


async def test_a_handler_that_always_fails_sends_the_event_to_the_dlq_and_moves_on(
    mongo: AsyncMongoClient[dict[str, Any]], kafka_bootstrap: str
) -> None:
    probe = new_probe()
    producer, _ = producer_app(probe, **FAST)
    consumer, _ = consumer_app(probe, **FAST)
    async with running(producer) as http, running(consumer):
        poison = (await http.post("/counters/c1/increment", params={"poison": "true"})).json()
        healthy = (await http.post("/counters/c1/increment")).json()
        found = await eventually(lambda: effects(mongo, probe.consumer_db), what="next event")
        assert [e["event_id"] for e in found] == [healthy["event_id"]]

    dead = await _dead_letter_from(kafka_bootstrap, probe.topic)
    assert dead.topic == "emk.probe.dlq"  # the consumer's own, not the source topic's
    assert dead.key == b"c1"
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["exc_class"] == "builtins.ValueError"
    assert headers["reason"] == "ValueError on every attempt"
    assert headers["handler"] == "probe.record_effect"
    assert json.loads(dead.value)["id"] == poison["event_id"]


async def test_a_handler_waiting_on_a_peer_is_retried_past_the_dlq_limit(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    probe = new_probe()
    calls: list[int] = []

    async def peer_down_at_first(data: Any) -> None:
        calls.append(data.value)
        if len(calls) <= 2 * FAST["consumer_max_attempts"]:
            raise RetryLater("peer: ConnectError")

    producer, _ = producer_app(probe, **FAST)
    consumer, _ = consumer_app(probe, before=peer_down_at_first, **FAST)
    async with running(producer) as http, running(consumer):
        sent = (await http.post("/counters/c1/increment")).json()
        found = await eventually(lambda: effects(mongo, probe.consumer_db), what="the effect")
    # Twice the attempts that dead-letter a failing handler, and the event still arrived.
    assert [e["event_id"] for e in found] == [sent["event_id"]]
    assert len(calls) == 2 * FAST["consumer_max_attempts"] + 1


async def test_an_event_that_can_never_apply_goes_to_the_dlq_at_once(
    mongo: AsyncMongoClient[dict[str, Any]], kafka_bootstrap: str
) -> None:
    probe = new_probe()
    calls: list[int] = []

    async def unknown_aggregate(data: Any) -> None:
        calls.append(data.value)
        if data.poison:
            raise DeadLetter("counter c1 is unknown")

    producer, _ = producer_app(probe, **FAST)
    consumer, _ = consumer_app(probe, before=unknown_aggregate, **FAST)
    async with running(producer) as http, running(consumer):
        poison = (await http.post("/counters/c1/increment", params={"poison": "true"})).json()
        healthy = (await http.post("/counters/c1/increment")).json()
        found = await eventually(lambda: effects(mongo, probe.consumer_db), what="next event")
        assert [e["event_id"] for e in found] == [healthy["event_id"]]
    assert calls == [1, 2]  # no retries for the dead one
    dead = await _dead_letter_from(kafka_bootstrap, probe.topic)
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["exc_class"] == "emk_common.kafka.DeadLetter"
    assert headers["reason"] == "counter c1 is unknown"
    assert json.loads(dead.value)["id"] == poison["event_id"]


async def _dead_letter_from(bootstrap: str, source_topic: str) -> Any:
    """The first record on the probe service's DLQ (every partition) that came from
    ``source_topic``: the DLQ is the consumer's, shared by every topic it reads."""
    consumer = AIOKafkaConsumer(
        dlq_topic(ProbeSettings.service_name),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()

    async def find() -> Any:
        while True:
            record = await consumer.getone()
            if ("original_topic", source_topic.encode()) in record.headers:
                return record

    try:
        return await asyncio.wait_for(find(), 20)
    finally:
        await consumer.stop()
