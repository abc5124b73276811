"""MongoDB repositories of the identity service.

Personal data never reaches the database in clear: the whole personal record of a user is
one AES-GCM token (``pii``, bound to the user id), and the values people log in with —
phone, e-mail, СНИЛС — are findable only through keyed blind indexes (``index.*``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from emk_common.crypto import BlindIndex, FieldCipher
from emk_common.limits import RateLimits
from emk_common.mongo import update_and_read

Doc = dict[str, Any]


def now_utc() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class PersonalVault:
    """Encrypts a user's personal record and computes the blind indexes of their logins."""

    def __init__(self, cipher: FieldCipher, index: BlindIndex) -> None:
        self._cipher = cipher
        self._index = index

    def seal(self, user_id: str, record: dict[str, Any], *, part: str = "pii") -> str:
        return self._cipher.encrypt(
            json.dumps(record, ensure_ascii=False), context=f"users.{part}:{user_id}"
        )

    def open(self, user_id: str, token: str, *, part: str = "pii") -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            self._cipher.decrypt(token, context=f"users.{part}:{user_id}")
        )
        return data

    def index(self, kind: str, normalised: str) -> str:
        return self._index.index(normalised, purpose=kind)

    def secret(self, context: str, value: str) -> str:
        return self._cipher.encrypt(value, context=context)

    def reveal(self, context: str, token: str) -> str:
        return self._cipher.decrypt(token, context=context)


class Users:
    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        for kind in ("phone", "email", "snils"):
            await self.collection.create_index(
                [(f"index.{kind}", ASCENDING)],
                name=f"login_{kind}",
                unique=True,
                partialFilterExpression={f"index.{kind}": {"$type": "string"}},
            )

    async def get(self, user_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": user_id})

    async def by_index(self, kind: str, value: str) -> Doc | None:
        return await self.collection.find_one({f"index.{kind}": value})

    async def insert(self, document: Doc) -> None:
        await self.collection.insert_one(document)

    async def update(self, user_id: str, version: int, update: Doc) -> Doc | None:
        """Optimistic concurrency: the write applies only to the version that was read."""
        update = dict(update)
        update["$inc"] = {**update.get("$inc", {}), "version": 1}
        update["$set"] = {**update.get("$set", {}), "updated_at": now_utc()}
        return await update_and_read(self.collection, {"_id": user_id, "version": version}, update)


class Challenges:
    """Second-factor challenges of a login in progress."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=3600, name="expiry")

    async def get(self, challenge_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": challenge_id})

    async def insert(self, document: Doc) -> None:
        await self.collection.insert_one(document)

    async def update(self, challenge_id: str, attempts: int, update: Doc) -> bool:
        result = await self.collection.update_one(
            {"_id": challenge_id, "attempts": attempts}, update
        )
        return result.modified_count == 1


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    expires_at: datetime


class Sessions:
    """Refresh-token families: the current token's hash, and the spent ones (reuse detection)."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("current_hash", name="current")
        await self.collection.create_index("spent_hashes", name="spent")
        await self.collection.create_index("expires_at", expireAfterSeconds=86_400, name="expiry")

    async def open(self, user_id: str, token_hash: str, ttl: timedelta) -> Session:
        now = now_utc()
        session = Session(new_id(), user_id, now + ttl)
        await self.collection.insert_one(
            {
                "_id": session.id,
                "user_id": user_id,
                "current_hash": token_hash,
                "spent_hashes": [],
                "created_at": now,
                "last_used_at": now,
                "expires_at": session.expires_at,
                "revoked_at": None,
            }
        )
        return session

    async def rotate(self, token_hash: str, new_hash: str) -> Doc | None:
        """Swap the current token for a new one; None if ``token_hash`` is not current."""
        current = await self.collection.find_one({"current_hash": token_hash}, {"_id": 1})
        if current is None:
            return None
        # The swap is conditional on the token still being current: of two uses, one wins.
        return await update_and_read(
            self.collection,
            {
                "_id": current["_id"],
                "current_hash": token_hash,
                "revoked_at": None,
                "expires_at": {"$gt": now_utc()},
            },
            {
                "$set": {"current_hash": new_hash, "last_used_at": now_utc()},
                "$push": {"spent_hashes": {"$each": [token_hash], "$slice": -50}},
            },
        )

    async def revoke_if_spent(self, token_hash: str) -> bool:
        """A spent token came back: someone kept a copy. The whole family is revoked."""
        result = await self.collection.update_one(
            {"spent_hashes": token_hash, "revoked_at": None}, {"$set": {"revoked_at": now_utc()}}
        )
        return result.modified_count == 1

    async def revoke(self, session_id: str, user_id: str) -> None:
        await self.collection.update_one(
            {"_id": session_id, "user_id": user_id, "revoked_at": None},
            {"$set": {"revoked_at": now_utc()}},
        )

    async def revoke_all(self, user_id: str) -> None:
        """Every session of the account ends now (a deactivated staff member)."""
        await self.collection.update_many(
            {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": now_utc()}}
        )

    async def is_active(self, session_id: str) -> bool:
        doc = await self.collection.find_one(
            {"_id": session_id, "revoked_at": None, "expires_at": {"$gt": now_utc()}}, {"_id": 1}
        )
        return doc is not None


async def _counted(collection: AsyncCollection[Doc], key: str, update: Doc) -> Doc:
    doc = await update_and_read(collection, {"_id": key}, update, upsert=True)
    assert doc is not None  # an upsert always leaves a document
    return doc


class LoginGuards:
    """Failed-password counters by login (known or not, so a lock reveals nothing)."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expiry")

    async def locked_for(self, key: str) -> float:
        doc = await self.collection.find_one({"_id": key})
        if doc is None or doc.get("locked_until") is None:
            return 0.0
        until: datetime = doc["locked_until"]
        return max(0.0, (until - now_utc()).total_seconds())

    async def failed(
        self, key: str, *, threshold: int, lock: timedelta, window: timedelta
    ) -> datetime | None:
        """Count a failure; returns the lock's end when this failure locks the login."""
        now = now_utc()
        doc = await _counted(
            self.collection, key, {"$inc": {"failures": 1}, "$set": {"expires_at": now + window}}
        )
        if doc["failures"] >= threshold:
            until = now + lock
            await self.collection.update_one(
                {"_id": key},
                {"$set": {"locked_until": until, "failures": 0, "expires_at": until + window}},
            )
            return until
        return None

    async def succeeded(self, key: str) -> None:
        await self.collection.delete_one({"_id": key})


def ensure_all(db: AsyncDatabase[Doc]) -> list[Any]:
    return [
        Users(db["users"]),
        Challenges(db["challenges"]),
        Sessions(db["sessions"]),
        RateLimits(db["rate_limits"]),
        LoginGuards(db["login_guards"]),
    ]
