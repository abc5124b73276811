"""``signing_keys``: the medical workers' public keys, kept for as long as what they signed."""

from __future__ import annotations

import contextlib
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common.mongo import update_and_read
from records.domain.keys import SigningKey
from records.store.codec import Doc, key_doc, signing_key


class SigningKeys:
    keys: AsyncCollection[Doc]

    async def key(self, key_id: str) -> SigningKey | None:
        found = await self.keys.find_one({"_id": key_id})
        return signing_key(found) if found is not None else None

    async def register_key(self, key: SigningKey, now: datetime) -> SigningKey:
        """The worker's new live key; their earlier live keys become ``superseded`` (they
        still verify what they signed). Registering the live key again changes nothing."""
        existing = await self.keys.find_one({"_id": key.id})
        if existing is not None:
            return signing_key(existing)
        await self.keys.update_many(
            {"worker_id": key.worker_id, "state": "live"},
            {"$set": {"state": "superseded", "superseded_at": now}},
        )
        with contextlib.suppress(DuplicateKeyError):  # the same key registered twice at once
            await self.keys.insert_one(key_doc(key))
        # Two keys registered at once: the later one is the live one.
        await self.keys.update_many(
            {"worker_id": key.worker_id, "state": "live", "_id": {"$ne": key.id},
             "registered_at": {"$lt": key.registered_at}},
            {"$set": {"state": "superseded", "superseded_at": now}},
        )  # fmt: skip
        found = await self.keys.find_one({"_id": key.id})
        assert found is not None
        return signing_key(found)

    async def revoke_key(self, key_id: str, by: str, now: datetime) -> None:
        await update_and_read(
            self.keys,
            {"_id": key_id, "state": {"$ne": "revoked"}},
            {"$set": {"state": "revoked", "revoked_at": now, "revoked_by": by}},
        )

    async def revoke_keys_of(self, worker_id: str, by: str, now: datetime) -> None:
        await self.keys.update_many(
            {"worker_id": worker_id, "state": {"$ne": "revoked"}},
            {"$set": {"state": "revoked", "revoked_at": now, "revoked_by": by}},
        )
