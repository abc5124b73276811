"""MongoDB repositories: in-app notifications, per-channel deliveries, preferences.

Nothing here holds a phone number or an e-mail address: contacts are asked of identity
when a delivery is sent, and forgotten right after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from emk_common.events import Envelope
from emk_common.mongo import claim_one, update_and_read
from emk_common.outbox import Outbox
from notifications.domain.retry import State, Verdict

Doc = dict[str, Any]

# The kind of a one-time code's delivery, and the field holding its sealed box
# (destination and code, for this service's key) until the delivery ends.
ONE_TIME_CODE = "one_time_code"
SEALED = "sealed"

DEFAULT_PREFERENCES: Doc = {"sms": True, "email": True, "reminders_days_before": [30, 7]}


def time_ordered_id(now: datetime) -> str:
    """32 hex digits: milliseconds first, then randomness. Sorting by ``_id`` is sorting by
    time, so a page of notifications is one range over one index, and so is its cursor."""
    millis = int(now.timestamp() * 1000)
    return f"{millis:012x}{os.urandom(10).hex()}"


class InApp:
    """The ``notifications`` collection: what the citizen sees in the personal account."""

    def __init__(self, collection: AsyncCollection[Doc], outbox: Outbox) -> None:
        self.collection = collection
        self._outbox = outbox

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("user_id", ASCENDING), ("_id", DESCENDING)], name="by_user_newest"
        )
        await self.collection.create_index(
            [("user_id", ASCENDING), ("read_at", ASCENDING)], name="by_user_unread"
        )

    async def add(
        self, document: Doc, events: Sequence[Envelope], session: AsyncClientSession
    ) -> None:
        await self.collection.insert_one(self._outbox.insert(document, events), session=session)

    async def page(self, user_id: str, limit: int, before: str | None) -> tuple[list[Doc], bool]:
        """Up to ``limit`` notifications older than ``before``, newest first; and whether
        there are more."""
        query: Doc = {"user_id": user_id}
        if before is not None:
            query["_id"] = {"$lt": before}
        docs = (
            await self.collection.find(query, _VIEW)
            .sort([("_id", DESCENDING)])
            .limit(limit + 1)
            .to_list()
        )
        return docs[:limit], len(docs) > limit

    async def unread(self, user_id: str) -> int:
        return await self.collection.count_documents({"user_id": user_id, "read_at": None})

    async def mark_read(self, user_id: str, notification_id: str, now: datetime) -> Doc | None:
        """Marks it read once (the first time stays); None if it is not this user's."""
        marked = await update_and_read(
            self.collection,
            {"_id": notification_id, "user_id": user_id, "read_at": None},
            {"$set": {"read_at": now}},
            projection=_VIEW,
        )
        if marked is not None:
            return marked
        return await self.collection.find_one({"_id": notification_id, "user_id": user_id}, _VIEW)


# The outbox's own fields never leave the service.
_VIEW = {"_outbox": 0, "_outbox_shard": 0}


class Preferences:
    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def get(self, user_id: str, session: AsyncClientSession | None = None) -> Doc:
        stored = await self.collection.find_one({"_id": user_id}, session=session)
        if stored is None:
            return dict(DEFAULT_PREFERENCES)
        return {key: stored.get(key, default) for key, default in DEFAULT_PREFERENCES.items()}

    async def put(self, user_id: str, preferences: Doc, now: datetime) -> Doc:
        values = {key: preferences[key] for key in DEFAULT_PREFERENCES}
        await self.collection.update_one(
            {"_id": user_id}, {"$set": {**values, "updated_at": now}}, upsert=True
        )
        return values


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime
    outcome: str  # "sent", "error" or "no_contact"
    error: str | None  # an exception's class name: never its text, which may quote data

    def to_doc(self) -> Doc:
        return {"n": self.number, "at": self.at, "outcome": self.outcome, "error": self.error}


class Deliveries:
    """The ``deliveries`` collection: one document per message and channel, with its attempts.

    Status changes (``kind: "application_status"``) and one-time codes (``"one_time_code"``,
    carrying the sealed box until the delivery ends) alike. A pending delivery is claimed
    with a lease before it is sent, so replicas polling the same collection do not send it
    twice; an expired lease (a replica died mid-send) makes it claimable again.
    """

    def __init__(self, collection: AsyncCollection[Doc], outbox: Outbox) -> None:
        self.collection = collection
        self._outbox = outbox

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self.collection.create_index(
            [("state", ASCENDING), ("kind", ASCENDING), ("next_attempt_at", ASCENDING)],
            name="due_by_kind",
        )

    async def add_pending(self, documents: Sequence[Doc], session: AsyncClientSession) -> None:
        if documents:
            await self.collection.insert_many(list(documents), session=session)

    @staticmethod
    def pending(
        *,
        delivery_id: str,
        channel: str,
        kind: str = "application_status",
        user_id: str,
        notification_id: str,
        now: datetime,
        **rest: Any,
    ) -> Doc:
        return {
            "_id": delivery_id,
            "kind": kind,
            "channel": channel,
            "user_id": user_id,
            "notification_id": notification_id,
            **rest,
            "state": State.PENDING.value,
            "attempt_count": 0,
            "attempts": [],
            "next_attempt_at": now,
            "claimed_until": None,
            "claimed_by": None,
            "claim": None,
            "created_at": now,
        }

    async def claim(self, now: datetime, lease: timedelta, owner: str) -> Doc | None:
        """Take a due delivery for ``lease``: a one-time code first (someone is waiting at
        the login screen and the code lives minutes), then the longest-waiting of the rest;
        None if nothing is due."""
        for kind in (ONE_TIME_CODE, None):
            claimed = await self._claim_one(now, lease, owner, kind)
            if claimed is not None:
                return claimed
        return None

    async def _claim_one(
        self, now: datetime, lease: timedelta, owner: str, kind: str | None
    ) -> Doc | None:
        due: Doc = {"state": State.PENDING.value, "next_attempt_at": {"$lte": now}}
        if kind is not None:
            due["kind"] = kind
        return await claim_one(
            self.collection,
            due,
            sort="next_attempt_at",
            held_until="claimed_until",
            now=now,
            claim={
                "claimed_until": now + lease,
                "claimed_by": owner,
                # Settling is conditional on this token: a replica whose lease lapsed and
                # was taken over cannot overwrite the new holder's outcome.
                "claim": uuid.uuid4().hex,
            },
        )

    async def settle(
        self, delivery: Doc, attempt: Attempt, verdict: Verdict, events: Sequence[Envelope]
    ) -> bool:
        """Record the attempt and where the delivery stands; False if the claim was lost.

        A delivery that has ended drops its sealed box (a one-time code's): nothing opens
        it any more, so it does not linger."""
        update: Doc = {
            "$set": {
                "state": verdict.state.value,
                "attempt_count": attempt.number,
                "claimed_until": None,
                "claimed_by": None,
                "claim": None,
                **({"next_attempt_at": verdict.next_attempt_at} if not verdict.final else {}),
                **({"finished_at": attempt.at} if verdict.final else {}),
            },
            "$push": {"attempts": attempt.to_doc()},
            **({"$unset": {SEALED: ""}} if verdict.final else {}),
        }
        result = await self.collection.update_one(
            {"_id": delivery["_id"], "claim": delivery["claim"]},
            self._outbox.update(delivery["_id"], update, events),
        )
        return result.modified_count == 1
