"""Rate limits shared by the replicas (``emk_common.limits``), on the real MongoDB."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from emk_common.limits import RateLimits, ReplicaRateLimits
from emk_devstack.stack import Stack
from emk_testing import FakeClock


@pytest.fixture(scope="module")
def mongodb_uri(stack: Stack | None) -> str:
    # Read before the unit tests' autouse fixture clears the environment.
    return os.environ["MONGODB_URI"]


async def test_first_hits_racing_on_a_counter_are_each_counted_once(mongodb_uri: str) -> None:
    """Concurrent first hits of a window race to create its counter: each is counted, none
    fails (a racing findAndModify once came back empty and the request was a 500), and each
    reads back its own count, so exactly the limit passes."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    limits = RateLimits(client[f"limits_{uuid.uuid4().hex[:8]}"]["rate_limits"])
    try:
        for _ in range(10):
            key = uuid.uuid4().hex
            waits = await asyncio.gather(
                *(limits.hit("bucket", key, limit=5, window=timedelta(hours=1)) for _ in range(8))
            )
            assert sum(wait is None for wait in waits) == 5
            stored = await limits.collection.find_one({"_id": {"$regex": f"^bucket:{key}:"}})
            assert stored is not None
            assert stored["count"] == 8
    finally:
        await client.drop_database(limits.collection.database.name)
        await client.close()


async def test_a_forgiven_hit_is_not_counted(mongodb_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    limits = RateLimits(client[f"limits_{uuid.uuid4().hex[:8]}"]["rate_limits"])
    window = timedelta(hours=1)
    try:
        for _ in range(3):
            assert await limits.hit("lookups", "w1", limit=2, window=window) is None
            await limits.forgive("lookups", "w1", window=window)
        assert await limits.hit("lookups", "w1", limit=2, window=window) is None
        assert await limits.hit("lookups", "w1", limit=2, window=window) is None
        wait = await limits.hit("lookups", "w1", limit=2, window=window)
        assert wait is not None
        assert 0 < wait <= 3600
    finally:
        await client.drop_database(limits.collection.database.name)
        await client.close()


async def test_a_counter_outlives_its_window_by_the_real_clock_too(mongodb_uri: str) -> None:
    """A service whose clock stands in the past (a test's) still keeps its counters for the
    whole window: MongoDB's TTL monitor deletes by the real clock."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    past = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    limits = RateLimits(client[f"limits_{uuid.uuid4().hex[:8]}"]["rate_limits"], lambda: past)
    try:
        before = datetime.now(UTC)
        assert await limits.hit("checks", "ip", limit=1, window=timedelta(minutes=1)) is None
        stored = await limits.collection.find_one({})
        assert stored is not None
        assert stored["expires_at"] >= before + timedelta(minutes=1)
        assert await limits.hit("checks", "ip", limit=1, window=timedelta(minutes=1)) == 60.0
    finally:
        await client.drop_database(limits.collection.database.name)
        await client.close()


async def test_a_replicas_own_limit_counts_each_client_in_its_window() -> None:
    clock = FakeClock(datetime(2026, 11, 29, 12, 0, 10, tzinfo=UTC))
    limits = ReplicaRateLimits(clock)
    minute = timedelta(minutes=1)
    assert [await limits.hit("checks", "a", limit=2, window=minute) for _ in range(2)] == [
        None,
        None,
    ]
    assert await limits.hit("checks", "a", limit=2, window=minute) == 50.0
    assert await limits.hit("checks", "b", limit=2, window=minute) is None  # another client
    assert await limits.hit("pages", "a", limit=2, window=minute) is None  # another bucket
    clock.advance(seconds=50)  # the next window: counted afresh, the last one forgotten
    assert await limits.hit("checks", "a", limit=2, window=minute) is None
    assert limits._windows["checks"][1] == {"a": 1}
