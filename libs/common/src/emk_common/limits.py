"""Rate limits: ``RateLimits`` shared by every replica (process memory is not shared),
fixed-window counters in the service's own MongoDB, expiring with their window; and
``ReplicaRateLimits``, one replica's own, in memory, where a limit must cost no round trip.

Each hit reads back exactly its own count (``findAndModify``, on a collection of live windows
only), so hits sent at once cannot all pass a check made before any of them was counted; the
counter is created first (by the window's first hit, found missing), so no upsert races the
increment; every later hit is one write.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common.clock import Clock, utc_now


class RateLimits:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock = utc_now):
        self.collection = collection
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expiry")

    async def hit(self, bucket: str, key: str, *, limit: int, window: timedelta) -> float | None:
        """Count one hit; the seconds to wait if it is over the limit, else None."""
        now = self._clock()
        counter, window_end = self._window(bucket, key, window, now)
        counted = await self._count(counter)
        if counted is None:  # the window's first hit: its counter is made first, then counted
            with contextlib.suppress(DuplicateKeyError):
                await self.collection.insert_one(
                    {"_id": counter, "count": 0, "expires_at": _purge_at(window_end, window)}
                )
            counted = await self._count(counter)
        count = int(counted["count"]) if counted is not None else 1
        if count > limit:
            return max(1.0, (window_end - now).total_seconds())
        return None

    async def _count(self, counter: str) -> dict[str, Any] | None:
        return await self.collection.find_one_and_update(
            {"_id": counter}, {"$inc": {"count": 1}}, return_document=ReturnDocument.AFTER
        )

    async def forgive(self, bucket: str, key: str, *, window: timedelta) -> None:
        """Take back a hit that turned out not to be what is limited (a lookup that found
        its book is not a failed lookup)."""
        counter, _ = self._window(bucket, key, window, self._clock())
        await self.collection.update_one({"_id": counter}, {"$inc": {"count": -1}})

    @staticmethod
    def _window(bucket: str, key: str, window: timedelta, now: datetime) -> tuple[str, datetime]:
        seconds = int(window.total_seconds())
        start = int(now.timestamp()) // seconds * seconds
        return f"{bucket}:{key}:{start}", datetime.fromtimestamp(start + seconds, UTC)


def _purge_at(window_end: datetime, window: timedelta) -> datetime:
    """When MongoDB may delete a counter: not before its window ends by the service's clock,
    nor by the real one the TTL monitor reads (a test's clock may stand hours in the past;
    a counter deleted mid-window would forget its hits)."""
    return max(window_end, datetime.now(UTC) + window)


class ReplicaRateLimits:
    """Fixed-window counters in this process's memory: for a limit that must cost nothing per
    request (the public check answers employers at the rate the gateway lets through). Each
    replica counts alone — behind N replicas a client gets up to N times the limit — so it
    is defence in depth behind the gateway's own per-client limit, never the only one for a
    secret that can be guessed (identity's limits stay in MongoDB). Only the current window
    of each bucket is kept: memory is one counter per client seen in the last window.
    """

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, dict[str, int]]] = {}  # bucket → (start, counts)

    async def hit(self, bucket: str, key: str, *, limit: int, window: timedelta) -> float | None:
        """Count one hit; the seconds to wait if it is over the limit, else None."""
        seconds = int(window.total_seconds())
        now = self._clock().timestamp()
        start = int(now) // seconds * seconds
        current, counts = self._windows.get(bucket, (start, {}))
        if current != start:  # a new window: the last one's counters are forgotten
            counts = {}
        self._windows[bucket] = (start, counts)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] > limit:
            return max(1.0, start + seconds - now)
        return None
