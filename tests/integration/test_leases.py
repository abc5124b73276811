"""Shard leases on the real MongoDB, with the clocks driven by the test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from emk_common.events import Envelope
from emk_common.leases import ShardLeases
from emk_common.outbox import Outbox, OutboxRelay

from .probe import event_class

LEASE = 10.0


class Clocks:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = datetime(2026, 1, 1, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


def leases(db: Any, owner: str, clocks: Clocks, shards: int = 4) -> ShardLeases:
    return ShardLeases(
        db["outbox_leases"],
        db["outbox_members"],
        owner=owner,
        shards=shards,
        lease_seconds=LEASE,
        monotonic=lambda: clocks.mono,
        wall_clock=lambda: clocks.wall,
    )


@pytest.fixture
def db(mongo: AsyncMongoClient[dict[str, Any]]) -> Any:
    return mongo[f"leases_{uuid.uuid4().hex[:8]}"]


async def test_a_lapsed_lease_is_neither_trusted_nor_taken_early(db: Any) -> None:
    clocks = Clocks()
    a, b = leases(db, "a", clocks), leases(db, "b", clocks)
    await a.maintain()
    assert a.owned() == [0, 1, 2, 3]

    await b.maintain()  # a's leases are live: b gets nothing, though it now counts as alive
    assert b.owned() == []

    clocks.advance(LEASE / 2 + 0.1)  # a missed its renewals: it stops trusting its leases
    assert a.owned() == []
    await b.maintain()  # ... but they have not expired for the others yet
    assert b.owned() == []

    clocks.advance(LEASE / 2)  # now they have
    await b.maintain()
    assert b.owned() == [0, 1, 2, 3]
    assert [b.epoch(s) for s in range(4)] == [2, 2, 2, 2]

    await a.maintain()  # a's renewal is refused by the epoch and it lets go
    assert a.owned() == []


async def test_replicas_split_the_shards_fairly_and_take_over_a_leaver(db: Any) -> None:
    clocks = Clocks()
    a, b = leases(db, "a", clocks), leases(db, "b", clocks)
    await a.maintain()
    await b.maintain()
    await a.maintain()  # a sees two members and gives back its extra shards
    await b.maintain()
    assert len(a.owned()) == 2
    assert len(b.owned()) == 2
    assert set(a.owned()).isdisjoint(b.owned())

    await a.release_all()  # a leaves cleanly
    await b.maintain()
    assert b.owned() == [0, 1, 2, 3]


class RecordingPublisher:
    ready = True

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def publish(self, topic: str, key: str, body: bytes, headers: dict[str, str]) -> None:
        self.sent.append(headers["ce_id"])


async def test_a_relay_whose_lease_lapsed_does_not_publish(db: Any) -> None:
    clocks = Clocks()
    event = event_class("emk.test.leases")
    outbox = Outbox(shards=4)
    envelope = Envelope.wrap(event(counter_id="c1", value=1), source="t", subject="c1")
    await db["counters"].insert_one(outbox.insert({"_id": "c1", "value": 1}, [envelope]))

    publisher = RecordingPublisher()
    shard_leases = leases(db, "a", clocks)
    relay = OutboxRelay([db["counters"]], shard_leases, publisher)
    await shard_leases.maintain()
    clocks.advance(LEASE / 2 + 0.1)

    assert await relay.drain_once() == 0
    assert publisher.sent == []

    await shard_leases.maintain()  # renewed in time after all: it publishes
    assert await relay.drain_once() == 1
    assert publisher.sent == [envelope.id]
    doc = await db["counters"].find_one({"_id": "c1"})
    assert doc == {"_id": "c1", "value": 1, "_outbox": []}
