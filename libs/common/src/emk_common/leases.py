"""Shard leases with epochs, so that relay replicas split the outbox without overlapping.

The aggregates are split into ``shards`` by a stable hash of their id. Each replica
heartbeats a membership record, takes its fair share (⌈shards / live replicas⌉) of the
free or expired shard leases, renews them, and gives up extras when replicas join.
Taking a lease increments its epoch; a renewal is conditional on (owner, epoch), so a
replica that lost its lease learns it at the next renewal.

A replica trusts its own lease for only half the lease time after the last successful
renewal (measured on its monotonic clock), while others may take it only after the full
lease time (on the shared wall clock): clock skew between replicas up to half a lease
cannot make two owners publish the same shard at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from emk_common.clock import Clock, utc_now
from emk_common.loops import PollingLoop

if TYPE_CHECKING:
    from emk_common.service import Runtime

log = logging.getLogger(__name__)


def shard_of(aggregate_id: str, shards: int) -> int:
    """A hash that is the same in every process (Python's ``hash`` of a str is not)."""
    digest = hashlib.blake2b(aggregate_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@dataclass
class _Held:
    epoch: int
    trusted_until: float  # monotonic


class ShardLeases:
    def __init__(
        self,
        leases: AsyncCollection[dict[str, Any]],
        members: AsyncCollection[dict[str, Any]],
        *,
        owner: str,
        shards: int,
        lease_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Clock = utc_now,
    ) -> None:
        self._monotonic = monotonic
        self._now = wall_clock
        self._leases = leases
        self._members = members
        self.owner = owner
        self.shards = shards
        self.lease_seconds = lease_seconds
        self._held: dict[int, _Held] = {}
        self._initialised = False

    def owned(self) -> list[int]:
        """Shards this replica may publish now."""
        now = self._monotonic()
        return sorted(s for s, h in self._held.items() if h.trusted_until > now)

    def epoch(self, shard: int) -> int | None:
        held = self._held.get(shard)
        return held.epoch if held else None

    async def maintain(self) -> None:
        """Heartbeat, renew what is held, take or give back shards toward the fair share."""
        try:
            await self._ensure_initialised()
            now = self._now()
            expires = now + timedelta(seconds=self.lease_seconds)
            await self._members.update_one(
                {"_id": self.owner}, {"$set": {"expires_at": expires}}, upsert=True
            )
            alive = await self._members.count_documents({"expires_at": {"$gt": now}})
            fair = math.ceil(self.shards / max(alive, 1))
            await self._renew(now, expires)
            while len(self._held) > fair:
                await self._release(max(self._held))
            if len(self._held) < fair:
                await self._acquire(now, expires, fair - len(self._held))
        except PyMongoError:
            log.warning("outbox lease maintenance failed; holding no new shards", exc_info=True)

    async def release_all(self) -> None:
        for shard in list(self._held):
            try:
                await self._release(shard)
            except PyMongoError:
                log.warning("could not release outbox shard %s", shard, exc_info=True)
        try:
            await self._members.delete_one({"_id": self.owner})
        except PyMongoError:
            log.warning("could not leave outbox membership", exc_info=True)

    async def _ensure_initialised(self) -> None:
        if self._initialised:
            return
        epoch0 = datetime.fromtimestamp(0, UTC)
        for shard in range(self.shards):
            with contextlib.suppress(DuplicateKeyError):
                await self._leases.insert_one(
                    {"_id": shard, "owner": None, "epoch": 0, "expires_at": epoch0}
                )
        self._initialised = True

    async def _renew(self, now: datetime, expires: datetime) -> None:
        started = self._monotonic()
        for shard, held in list(self._held.items()):
            result = await self._leases.update_one(
                {"_id": shard, "owner": self.owner, "epoch": held.epoch},
                {"$set": {"expires_at": expires}},
            )
            if result.matched_count:
                held.trusted_until = started + self.lease_seconds / 2
            else:
                log.warning("outbox shard %s was taken over; giving it up", shard)
                del self._held[shard]

    async def _acquire(self, now: datetime, expires: datetime, wanted: int) -> None:
        started = self._monotonic()
        for shard in range(self.shards):
            if wanted == 0:
                return
            if shard in self._held:
                continue
            doc = await self._leases.find_one_and_update(
                {"_id": shard, "expires_at": {"$lte": now}},
                {"$set": {"owner": self.owner, "expires_at": expires}, "$inc": {"epoch": 1}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                self._held[shard] = _Held(doc["epoch"], started + self.lease_seconds / 2)
                wanted -= 1

    async def _release(self, shard: int) -> None:
        held = self._held.pop(shard)
        await self._leases.update_one(
            {"_id": shard, "owner": self.owner, "epoch": held.epoch},
            {"$set": {"owner": None, "expires_at": datetime.fromtimestamp(0, UTC)}},
        )


class LeasedWork:
    """Work one replica at a time does (the audit journal's sealing, the access feed): a
    polling loop that keeps a one-shard lease — heartbeat and renewal every quarter of its
    term — and runs ``work`` while it holds it; the lease is given back when it stops."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        leases: ShardLeases,
        *,
        poll_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._work = work
        self._leases = leases
        self._monotonic = monotonic
        self._next_maintenance = 0.0
        self.loop = PollingLoop(name, self.round, poll_seconds)

    @staticmethod
    def leases_of(runtime: Runtime, prefix: str) -> ShardLeases:
        """One shard, kept in the service's ``<prefix>_leases`` and ``<prefix>_members``; real
        seconds, shared with the other replicas (as the relay's leases)."""
        settings = runtime.settings
        return ShardLeases(
            runtime.db[f"{prefix}_leases"],
            runtime.db[f"{prefix}_members"],
            owner=f"{settings.service_name}-{runtime.replica_id}",
            shards=1,
            lease_seconds=settings.outbox_lease_seconds,
        )

    async def round(self) -> None:
        now = self._monotonic()
        if now >= self._next_maintenance:
            await self._leases.maintain()
            self._next_maintenance = now + self._leases.lease_seconds / 4
        if self._leases.owned():
            await self._work()

    async def run(self) -> None:
        try:
            await self.loop.run()
        finally:
            await self._leases.release_all()
