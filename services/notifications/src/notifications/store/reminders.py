"""``reminders``: one document per planned reminder (its id names the book, the due item, the
due date and the days before — see ``domain.reminders``); ``due_lists``: each book's latest
list of due items and its last known validity, so that new preferences can plan again and a
book that stops being valid is told once.

A due reminder is claimed with a lease (``emk_common.mongo.claim_one``, without a sort) and
fired in one transaction with the notification and deliveries it makes, conditional on the
claim: a replica that dies between claim and fire leaves it to the lease; two never fire it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from emk_common.catalog import DueItem
from emk_common.mongo import claim_one
from notifications.domain.reminders import Reminder, ReminderState
from notifications.ports import FiredElsewhereError

Doc = dict[str, Any]


class Reminders:
    def __init__(self, reminders: AsyncCollection[Doc], due_lists: AsyncCollection[Doc]) -> None:
        self.reminders = reminders
        self.due_lists = due_lists

    async def ensure_indexes(self) -> None:
        await self.reminders.create_index(
            [("state", ASCENDING), ("send_at", ASCENDING)], name="due"
        )
        await self.reminders.create_index("book_id", name="by_book")
        await self.due_lists.create_index("user_id", name="by_user")

    async def keep_due(
        self, book_id: str, user_id: str, due: Sequence[DueItem], session: AsyncClientSession | None
    ) -> None:
        items = [item.model_dump(mode="json") for item in due]
        await self.due_lists.update_one(
            {"_id": book_id},
            {"$set": {"user_id": user_id, "due": items}},
            upsert=True,
            session=session,
        )

    async def due_of(
        self, user_id: str, session: AsyncClientSession | None = None
    ) -> list[tuple[str, list[DueItem]]]:
        """Each of the person's books with its latest due items."""
        found = self.due_lists.find({"user_id": user_id}, session=session)
        return [
            (doc["_id"], [DueItem.model_validate(item) for item in doc.get("due") or ()])
            async for doc in found
        ]

    async def swap_validity(
        self, book_id: str, user_id: str, validity: str, session: AsyncClientSession | None
    ) -> str | None:
        """Keeps the book's validity; returns the one known before (None: none was)."""
        before = await self.due_lists.find_one({"_id": book_id}, {"validity": 1}, session=session)
        await self.due_lists.update_one(
            {"_id": book_id},
            {"$set": {"user_id": user_id, "validity": validity}},
            upsert=True,
            session=session,
        )
        return None if before is None else before.get("validity")

    async def replan(
        self, book_id: str, planned: Iterable[Reminder], session: AsyncClientSession | None
    ) -> None:
        """The book's pending reminders become ``planned``: new ones are added, pending ones
        no longer planned are cancelled; sent ones (and planned ones already there) stay."""
        wanted = {reminder.id: reminder for reminder in planned}
        known = {
            doc["_id"]: doc["state"]
            async for doc in self.reminders.find(
                {"book_id": book_id}, {"state": 1}, session=session
            )
        }
        stale = [rid for rid, state in known.items() if state == "pending" and rid not in wanted]
        if stale:
            await self.reminders.update_many(
                {"_id": {"$in": stale}, "state": ReminderState.PENDING.value},
                {"$set": {"state": ReminderState.CANCELLED.value}},
                session=session,
            )
        revived = [rid for rid, state in known.items() if state == "cancelled" and rid in wanted]
        if revived:  # planned again (days chosen back): pending once more
            await self.reminders.update_many(
                {"_id": {"$in": revived}},
                {"$set": {"state": ReminderState.PENDING.value}},
                session=session,
            )
        new = [_doc(r) for rid, r in wanted.items() if rid not in known]
        if new:
            await self.reminders.insert_many(new, session=session)

    async def claim_reminder(self, now: datetime, lease: timedelta, owner: str) -> Reminder | None:
        claimed = await claim_one(
            self.reminders,
            {"state": ReminderState.PENDING.value, "send_at": {"$lte": now}},
            sort=None,
            held_until="claimed_until",
            now=now,
            claim={"claimed_until": now + lease, "claimed_by": owner, "claim": uuid.uuid4().hex},
        )
        return None if claimed is None else _reminder(claimed)

    async def mark_fired(
        self, reminder: Reminder, now: datetime, session: AsyncClientSession | None, *, sent: bool
    ) -> None:
        """Sent (or, ``sent`` false, cancelled: its date passed), on the claim it was read
        under; else ``FiredElsewhereError`` (the caller's transaction then aborts with
        everything the reminder made). Other reminders of the same due date that are overdue
        too (missed while the service was down) are cancelled: one reminder, not several."""
        state = ReminderState.SENT if sent else ReminderState.CANCELLED
        done = await self.reminders.update_one(
            {"_id": reminder.id, "claim": reminder.claim, "state": ReminderState.PENDING.value},
            {"$set": {"state": state.value, "sent_at": now, "claimed_until": None}},
            session=session,
        )
        if done.modified_count != 1:
            raise FiredElsewhereError(reminder.id)
        await self.reminders.update_many(
            {
                "book_id": reminder.book_id,
                "item_id": reminder.item_id,
                "due_date": reminder.due_date.isoformat(),
                "state": ReminderState.PENDING.value,
                "send_at": {"$lte": now},
            },
            {"$set": {"state": ReminderState.CANCELLED.value}},
            session=session,
        )

    async def of_book(self, book_id: str) -> list[Reminder]:
        return [_reminder(doc) async for doc in self.reminders.find({"book_id": book_id})]


def _doc(reminder: Reminder) -> Doc:
    return {
        "_id": reminder.id,
        "user_id": reminder.user_id,
        "book_id": reminder.book_id,
        "item_id": reminder.item_id,
        "due_kind": reminder.due_kind,
        "due_date": reminder.due_date.isoformat(),
        "days_before": reminder.days_before,
        "send_at": reminder.send_at,
        "state": reminder.state.value,
        "claimed_until": None,
        "claim": None,
    }


def _reminder(doc: Doc) -> Reminder:
    return Reminder(
        id=doc["_id"],
        user_id=doc["user_id"],
        book_id=doc["book_id"],
        item_id=doc["item_id"],
        due_kind=doc["due_kind"],
        due_date=date.fromisoformat(doc["due_date"]),
        days_before=int(doc["days_before"]),
        send_at=doc["send_at"],
        state=ReminderState(doc["state"]),
        claim=doc.get("claim"),
    )
