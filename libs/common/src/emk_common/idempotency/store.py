"""The records of one service's keys in its own MongoDB (TTL on ``expires_at``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common.clock import Clock, utc_now

COLLECTION = "idempotency_keys"

Doc = dict[str, Any]


class IdempotencyStore:
    """The records of one service's keys in its own MongoDB."""

    def __init__(
        self,
        collection: AsyncCollection[Doc],
        *,
        ttl: timedelta = timedelta(hours=24),
        lease_seconds: float = 60.0,
        clock: Clock = utc_now,
    ) -> None:
        if lease_seconds <= 0 or ttl <= timedelta(seconds=lease_seconds):
            raise ValueError("an idempotency key must outlive its lease")
        self.collection = collection
        self.ttl = ttl
        self.lease_seconds = lease_seconds
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0)

    async def claim(self, record_id: str, method: str, path: str) -> Claim:
        """Own the key for a first run, or learn what holds it."""
        owner = uuid.uuid4().hex
        for _ in range(3):  # the record may vanish between our insert and our read
            now = self._clock()
            fresh = {
                "_id": record_id,
                "state": "processing",
                "method": method,
                "path": path,
                "owner": owner,
                "lease_until": now + timedelta(seconds=self.lease_seconds),
                "expires_at": now + self.ttl,
            }
            try:
                await self.collection.insert_one(fresh)
                return Claim(owner=owner)
            except DuplicateKeyError:
                pass
            existing = await self.collection.find_one({"_id": record_id})
            if existing is None:
                continue
            if not _lapsed(existing, now):
                return Claim(record=existing)
            # Its process died, or the TTL monitor has not reaped it yet: take it over, once.
            taken = await self.collection.replace_one(
                {
                    "_id": record_id,
                    "$or": [
                        {"state": "processing", "lease_until": {"$lte": now}},
                        {"expires_at": {"$lte": now}},
                    ],
                },
                fresh,
            )
            if taken.matched_count == 1:
                return Claim(owner=owner)
        raise RuntimeError("an idempotency record kept changing under us")

    async def renew(self, record_id: str, owner: str) -> None:
        lease_until = self._clock() + timedelta(seconds=self.lease_seconds)
        await self.collection.update_one(
            {"_id": record_id, "owner": owner, "state": "processing"},
            {"$set": {"lease_until": lease_until}},
        )

    async def complete(
        self, record_id: str, owner: str, *, status: int, fingerprint: str, response: bytes
    ) -> bool:
        """Store the answer; ``False`` if another process took the key over meanwhile."""
        result = await self.collection.update_one(
            {"_id": record_id, "owner": owner, "state": "processing"},
            {
                "$set": {
                    "state": "done",
                    "status": status,
                    "fingerprint": fingerprint,
                    "response": response,
                    "expires_at": self._clock() + self.ttl,
                },
                "$unset": {"owner": "", "lease_until": ""},
            },
        )
        return result.matched_count == 1

    async def release(self, record_id: str, owner: str) -> None:
        await self.collection.delete_one({"_id": record_id, "owner": owner, "state": "processing"})


def _lapsed(record: Doc, now: datetime) -> bool:
    if _aware(record["expires_at"]) <= now:
        return True
    return record["state"] == "processing" and _aware(record["lease_until"]) <= now


def _aware(moment: datetime) -> datetime:
    # A client without tz_aware=True reads UTC datetimes back naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Claim:
    """Either we own the key (``owner``) or someone's record holds it (``record``)."""

    owner: str | None = None
    record: Doc | None = None
