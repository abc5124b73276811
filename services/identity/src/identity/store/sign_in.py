"""What signing in keeps: second-factor challenges, sessions (refresh-token families) and
the failed-password counters of logins."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from emk_common.clock import Clock
from emk_common.crypto import BlindIndex
from emk_common.events import Envelope
from emk_common.mongo import update_and_read
from emk_common.service import Runtime
from identity.domain.session import Challenge, Session
from identity.store.users import code_from, later_tries

Doc = dict[str, Any]


class ChallengeStore:
    """Second-factor challenges of logins in progress (they expire after an hour)."""

    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.collection("challenges")
        self._outbox = runtime.outbox

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=3600, name="expiry")

    async def get(self, challenge_id: str) -> Challenge | None:
        doc = await self.collection.find_one({"_id": challenge_id})
        return None if doc is None else self._challenge(doc)

    @staticmethod
    def _challenge(doc: Doc) -> Challenge:
        return Challenge(
            id=doc["_id"],
            user_id=doc["user_id"],
            channel=doc["channel"],
            expires_at=doc["expires_at"],
            code=code_from(doc.get("code")),
            attempts=doc["attempts"],
            done=bool(doc.get("done")),
        )

    async def insert(self, challenge: Challenge, events: list[Envelope]) -> None:
        document: Doc = {
            "_id": challenge.id,
            "user_id": challenge.user_id,
            "attempts": challenge.attempts,
            "expires_at": challenge.expires_at,
        }
        if challenge.code is not None:
            document["code"] = asdict(challenge.code)
        document["channel"] = challenge.channel
        await self.collection.insert_one(self._outbox.insert(document, events))

    async def count_try(self, challenge: Challenge, max_attempts: int) -> Challenge | None:
        """Counts one try, atomically, before the code is even looked at: the challenge as this
        try left it, or None if it is finished or has no try left. Tries sent at once each take
        their own slot (a read-then-write counter let 40 at once pass as one).

        The read back may already carry later tries, so each try also appends a token of its
        own to ``tries`` (bounded by ``max_attempts``) in the same write: the tries appended
        after it are subtracted, giving exactly the count this try made."""
        token = secrets.token_hex(8)
        counted: Doc = {"attempts": 1}
        if challenge.code is not None:
            counted["code.attempts"] = 1  # the sent code's own count moves with it
        doc = await update_and_read(
            self.collection,
            {"_id": challenge.id, "done": {"$ne": True}, "attempts": {"$lt": max_attempts}},
            {"$inc": counted, "$push": {"tries": token}},
        )
        if doc is None:
            return None
        later = later_tries(doc["tries"], token)
        doc["attempts"] -= later
        if doc.get("code") is not None:
            doc["code"]["attempts"] -= later
        return self._challenge(doc)

    async def finish(self, challenge_id: str) -> bool:
        """Marks it done; False if another request finished it first."""
        result = await self.collection.update_one(
            {"_id": challenge_id, "done": {"$ne": True}}, {"$set": {"done": True}}
        )
        return result.modified_count == 1


class SessionStore:
    """Refresh-token families: the current token's hash, and the spent ones (reuse detection).
    A session's end stages its ``SessionRevoked`` in the session's own document (its outbox)."""

    def __init__(self, runtime: Runtime, clock: Clock) -> None:
        self.collection = runtime.collection("sessions")
        self._outbox = runtime.outbox
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("current_hash", name="current")
        await self.collection.create_index("spent_hashes", name="spent")
        await self.collection.create_index("expires_at", expireAfterSeconds=86_400, name="expiry")

    async def open(self, session_id: str, user_id: str, token_hash: str, ttl: timedelta) -> Session:
        now = self._clock()
        session = Session(session_id, user_id, now, now + ttl)
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

    async def rotate(self, token_hash: str, new_hash: str) -> Session | None:
        """Swap the current token for a new one; None if ``token_hash`` is not current."""
        current = await self.collection.find_one({"current_hash": token_hash}, {"_id": 1})
        if current is None:
            return None
        now = self._clock()
        # The swap is conditional on the token still being current: of two uses, one wins.
        doc = await update_and_read(
            self.collection,
            {
                "_id": current["_id"],
                "current_hash": token_hash,
                "revoked_at": None,
                "expires_at": {"$gt": now},
            },
            {
                "$set": {"current_hash": new_hash, "last_used_at": now},
                "$push": {"spent_hashes": {"$each": [token_hash], "$slice": -50}},
            },
        )
        if doc is None:
            return None
        return Session(doc["_id"], doc["user_id"], doc["created_at"], doc["expires_at"])

    async def spent(self, token_hash: str) -> Session | None:
        """The live session ``token_hash`` was a spent token of (someone kept a copy)."""
        doc = await self.collection.find_one(
            {"spent_hashes": token_hash, "revoked_at": None},
            {"user_id": 1, "created_at": 1, "expires_at": 1},
        )
        if doc is None:
            return None
        return Session(doc["_id"], doc["user_id"], doc["created_at"], doc["expires_at"])

    async def revoke(self, session_id: str, user_id: str, events: list[Envelope]) -> bool:
        """Ends the session with its events (``SessionRevoked``), in one write; False when it
        is not ``user_id``'s, or ended already."""
        result = await self.collection.update_one(
            {"_id": session_id, "user_id": user_id, "revoked_at": None},
            self._outbox.update(session_id, {"$set": {"revoked_at": self._clock()}}, events),
        )
        return result.modified_count == 1

    async def active(self, user_id: str) -> list[str]:
        """The ids of the account's sessions not revoked (expired ones included: their last
        access tokens may still be valid)."""
        found = self.collection.find({"user_id": user_id, "revoked_at": None}, {"_id": 1})
        return [doc["_id"] async for doc in found]

    async def is_active(self, session_id: str) -> bool:
        doc = await self.collection.find_one(
            {"_id": session_id, "revoked_at": None, "expires_at": {"$gt": self._clock()}},
            {"_id": 1},
        )
        return doc is not None


class LoginGuards:
    """Failed-password counters by login as typed (known or not, so a lock reveals nothing),
    under a blind index of their own."""

    def __init__(self, runtime: Runtime, index: BlindIndex, clock: Clock) -> None:
        self.collection = runtime.collection("login_guards")
        self._index = index
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expiry")

    def _key(self, login: str) -> str:
        return self._index.index(login.strip().lower(), purpose="login")

    async def locked_for(self, login: str) -> float:
        doc = await self.collection.find_one({"_id": self._key(login)})
        if doc is None or doc.get("locked_until") is None:
            return 0.0
        until: datetime = doc["locked_until"]
        return max(0.0, (until - self._clock()).total_seconds())

    async def failed(
        self, login: str, *, threshold: int, lock: timedelta, window: timedelta
    ) -> datetime | None:
        """Count a failure; returns the lock's end when this failure locks the login."""
        key = self._key(login)
        now = self._clock()
        doc = await update_and_read(
            self.collection,
            {"_id": key},
            {"$inc": {"failures": 1}, "$set": {"expires_at": now + window}},
            upsert=True,
        )
        assert doc is not None  # an upsert always leaves a document
        if doc["failures"] >= threshold:
            until = now + lock
            await self.collection.update_one(
                {"_id": key},
                {"$set": {"locked_until": until, "failures": 0, "expires_at": until + window}},
            )
            return until
        return None

    async def succeeded(self, login: str) -> None:
        await self.collection.delete_one({"_id": self._key(login)})
