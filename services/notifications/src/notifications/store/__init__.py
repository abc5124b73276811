"""The notifications' MongoDB: in-app notifications, per-channel deliveries, preferences,
reminders (``reminders.py``). The only package that knows their documents' shape.

Nothing here holds a phone number or an e-mail address: contacts are asked of identity
when a delivery is sent, and forgotten right after. A one-time code's box (sealed for this
service) is kept only while its delivery is pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from emk_common.audit import AccessLog
from emk_common.catalog import SealedBox
from emk_common.events import Envelope
from emk_common.mongo import claim_one, update_and_read
from emk_common.outbox import Outbox
from notifications.domain.delivery import (
    ONE_TIME_CODE,
    Attempt,
    Delivery,
    OneTimeCode,
    Settlement,
    Unreadable,
)
from notifications.domain.notification import (
    ApplicationRef,
    BookRef,
    DueRef,
    Notification,
    Preferences,
    ShareRef,
    Subject,
    ValidityRef,
)
from notifications.domain.retry import State
from notifications.domain.texts import (
    ACCOUNT_LOCKED,
    APPLICATION_STATUS,
    BOOK_ACCESS,
    BOOK_CHECKED,
    BOOK_NOT_VALID,
    REGISTRATION_ATTEMPTED,
    REMINDER,
    SMS_SUMMARY,
    AccountLock,
    BookAccess,
    BookCheck,
    BookNotValid,
    DueReminder,
    Message,
    RegistrationAttempt,
    SmsSummary,
    StatusChange,
)
from notifications.store.reminders import Reminders

Doc = dict[str, Any]
T = TypeVar("T")

# The field holding a one-time code's sealed box until its delivery ends.
SEALED = "sealed"
# The outbox's own fields never leave the service.
_VIEW = {"_outbox": 0, "_outbox_shard": 0}


class NotificationStore:
    def __init__(self, db: AsyncDatabase[Doc], outbox: Outbox) -> None:
        self.notifications: AsyncCollection[Doc] = db["notifications"]
        self.preference_docs: AsyncCollection[Doc] = db["preferences"]
        self.deliveries = Deliveries(db["deliveries"], outbox)
        self.reminders = Reminders(db["reminders"], db["due_lists"])
        # Who (staff) read a person's deliveries, and why: the person reads it (152-ФЗ).
        self.access_log = AccessLog(db["access_log"], "person")
        self._outbox = outbox
        self._client = db.client

    async def in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """``work`` in one transaction (retried whole on a transient error)."""
        async with self._client.start_session() as session:
            return await session.with_transaction(work)

    async def ensure_indexes(self) -> None:
        await self.notifications.create_index(
            [("user_id", ASCENDING), ("_id", DESCENDING)], name="by_user_newest"
        )
        await self.notifications.create_index(
            [("user_id", ASCENDING), ("read_at", ASCENDING)], name="by_user_unread"
        )
        await self.deliveries.ensure_indexes()
        await self.reminders.ensure_indexes()
        await self.access_log.ensure_indexes()

    # --- in-app notifications ------------------------------------------------------------

    async def add_notification(
        self,
        notification: Notification,
        events: Sequence[Envelope],
        session: AsyncClientSession | None,
    ) -> None:
        document = {
            "_id": notification.id,
            "user_id": notification.user_id,
            "kind": notification.kind,
            "title": notification.title,
            "text": notification.text,
            **_subject_doc(notification.subject),
            "trigger_event_id": notification.trigger_event_id,
            "created_at": notification.created_at,
            "read_at": notification.read_at,
        }
        await self.notifications.insert_one(self._outbox.insert(document, events), session=session)

    async def page(
        self, user_id: str, limit: int, before: str | None
    ) -> tuple[list[Notification], bool]:
        """Up to ``limit`` notifications older than ``before``, newest first; and whether
        there are more."""
        query: Doc = {"user_id": user_id}
        if before is not None:
            query["_id"] = {"$lt": before}
        docs = (
            await self.notifications.find(query, _VIEW)
            .sort([("_id", DESCENDING)])
            .limit(limit + 1)
            .to_list()
        )
        return [_notification(doc) for doc in docs[:limit]], len(docs) > limit

    async def unread(self, user_id: str) -> int:
        return await self.notifications.count_documents({"user_id": user_id, "read_at": None})

    async def mark_read(
        self, user_id: str, notification_id: str, now: datetime
    ) -> Notification | None:
        """Marks it read once (the first time stays); None if it is not this user's."""
        marked = await update_and_read(
            self.notifications,
            {"_id": notification_id, "user_id": user_id, "read_at": None},
            {"$set": {"read_at": now}},
            projection=_VIEW,
        )
        if marked is None:
            marked = await self.notifications.find_one(
                {"_id": notification_id, "user_id": user_id}, _VIEW
            )
        return None if marked is None else _notification(marked)

    # --- preferences ---------------------------------------------------------------------

    async def preferences(
        self, user_id: str, session: AsyncClientSession | None = None
    ) -> Preferences:
        stored = await self.preference_docs.find_one({"_id": user_id}, session=session)
        if stored is None:
            return Preferences()
        default = Preferences()
        # Documents older than the quiet hours (or made by learn_time_zone alone) lack some
        # fields: the defaults stand in.
        quiet = stored.get("quiet_hours")
        return Preferences(
            sms=stored.get("sms", default.sms),
            email=stored.get("email", default.email),
            reminders_days_before=tuple(
                stored.get("reminders_days_before", default.reminders_days_before)
            ),
            quiet_hours=None if quiet is None else (int(quiet["start"]), int(quiet["end"])),
            time_zone=stored.get("time_zone"),
        )

    async def put_preferences(self, user_id: str, chosen: Preferences, now: datetime) -> None:
        quiet = chosen.quiet_hours
        values = {
            "sms": chosen.sms,
            "email": chosen.email,
            "reminders_days_before": list(chosen.reminders_days_before),
            "quiet_hours": None if quiet is None else {"start": quiet[0], "end": quiet[1]},
            "updated_at": now,
        }
        await self.preference_docs.update_one({"_id": user_id}, {"$set": values}, upsert=True)

    async def learn_time_zone(self, user_id: str, zone: str | None) -> None:
        await self.preference_docs.update_one(
            {"_id": user_id}, {"$set": {"time_zone": zone}}, upsert=True
        )

    # --- deliveries ----------------------------------------------------------------------

    async def stage(
        self, deliveries: Sequence[Delivery], session: AsyncClientSession | None
    ) -> None:
        await self.deliveries.stage(deliveries, session)

    async def claim(self, now: datetime, lease: timedelta, owner: str) -> Delivery | None:
        return await self.deliveries.claim(now, lease, owner)

    async def settle(
        self, delivery: Delivery, settlement: Settlement, events: Sequence[Envelope]
    ) -> bool:
        return await self.deliveries.settle(delivery, settlement, events)

    async def hold(self, delivery: Delivery, until: datetime) -> bool:
        return await self.deliveries.hold(delivery, until)

    async def sms_sent_since(self, user_id: str, since: datetime) -> list[datetime]:
        """When each SMS (one-time codes aside) sent to the person since ``since`` went."""
        found = self.deliveries.collection.find(
            {"user_id": user_id, "channel": "sms", "state": State.SENT.value,
             "finished_at": {"$gte": since}},
            {"kind": 1, "finished_at": 1},
        )  # fmt: skip
        sent: list[datetime] = [
            doc["finished_at"] async for doc in found if doc.get("kind") != ONE_TIME_CODE
        ]
        return sorted(sent)

    async def fold(self, delivery: Delivery, summary: Delivery, now: datetime) -> bool:
        """``delivery`` (claimed) is folded into ``summary``, a pending SMS that counts what
        it stands for: made by the first fold, counted up by the next ones — one transaction;
        False (nothing written) if the claim was lost."""
        pending = _delivery_doc(summary)
        pending.pop("message", None)  # its count is the $inc's

        async def fold(session: AsyncClientSession) -> bool:
            folded = await self.deliveries.collection.update_one(
                {"_id": delivery.id, "claim": delivery.claim},
                {"$set": {"state": State.FOLDED.value, "finished_at": now,
                          "folded_into": summary.id, "claimed_until": None, "claim": None}},
                session=session,
            )  # fmt: skip
            if folded.modified_count != 1:
                return False
            await self.deliveries.collection.update_one(
                {"_id": summary.id},
                {"$inc": {"message.count": 1}, "$setOnInsert": pending},
                upsert=True,
                session=session,
            )
            return True

        return await self.in_transaction(fold)

    async def deliveries_of(self, user_id: str, limit: int) -> list[Delivery]:
        """The person's deliveries, newest first (without any sealed box)."""
        found = self.deliveries.collection.find({"user_id": user_id}, {SEALED: 0, **_VIEW})
        docs = await found.sort("created_at", DESCENDING).limit(limit).to_list()
        return [_delivery(doc) for doc in docs]


class Deliveries:
    """The ``deliveries`` collection: one document per message and channel, with its
    attempts. A pending delivery is claimed with a lease before it is sent, so replicas
    polling the same collection do not send it twice."""

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
        await self.collection.create_index(
            [("user_id", ASCENDING), ("created_at", DESCENDING)], name="by_user"
        )

    async def stage(
        self, deliveries: Sequence[Delivery], session: AsyncClientSession | None
    ) -> None:
        if deliveries:
            await self.collection.insert_many(
                [_delivery_doc(d) for d in deliveries], session=session
            )

    async def claim(self, now: datetime, lease: timedelta, owner: str) -> Delivery | None:
        """Take a due delivery for ``lease``: a one-time code first (someone is waiting at
        the login screen and the code lives minutes), then the longest-waiting of the rest;
        None if nothing is due. An expired lease (a replica died mid-send) is free again."""
        for kind in (ONE_TIME_CODE, None):
            due: Doc = {"state": State.PENDING.value, "next_attempt_at": {"$lte": now}}
            if kind is not None:
                due["kind"] = kind
            claimed = await claim_one(
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
            if claimed is not None:
                return _delivery(claimed)
        return None

    async def hold(self, delivery: Delivery, until: datetime) -> bool:
        """Released unsent, due again at ``until`` (quiet hours): no attempt is counted."""
        released = {"claimed_until": None, "claimed_by": None, "claim": None}
        result = await self.collection.update_one(
            {"_id": delivery.id, "claim": delivery.claim},
            {"$set": {**released, "next_attempt_at": until}},
        )
        return result.modified_count == 1

    async def settle(
        self, delivery: Delivery, settlement: Settlement, events: Sequence[Envelope]
    ) -> bool:
        """Record the attempt and where the delivery stands; False if the claim was lost.

        A delivery that has ended drops its sealed box (a one-time code's): nothing opens
        it any more, so it does not linger."""
        attempt, verdict = settlement.attempt, settlement.verdict
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
            "$push": {"attempts": _attempt_doc(attempt)},
            **({"$unset": {SEALED: ""}} if verdict.final else {}),
        }
        result = await self.collection.update_one(
            {"_id": delivery.id, "claim": delivery.claim},
            self._outbox.update(delivery.id, update, events),
        )
        return result.modified_count == 1


# --- documents ---------------------------------------------------------------------------


def _subject_doc(subject: Subject | None) -> Doc:
    if isinstance(subject, ApplicationRef):
        return {
            "application_id": subject.application_id,
            "number": subject.number,
            "status": subject.status,
            "status_label": subject.status_label,
        }
    if isinstance(subject, BookRef):
        return {"book_id": subject.book_id, "grant_id": subject.grant_id}
    if isinstance(subject, ShareRef):
        return {"book_id": subject.book_id, "share_id": subject.share_id}
    if isinstance(subject, DueRef):
        return {
            "book_id": subject.book_id,
            "item_id": subject.item_id,
            "due_date": subject.due_date.isoformat(),
        }
    if isinstance(subject, ValidityRef):
        return {"book_id": subject.book_id}
    return {}


def _subject(doc: Mapping[str, Any]) -> Subject | None:
    kind = doc.get("kind", APPLICATION_STATUS)
    if kind == BOOK_ACCESS:
        return BookRef(book_id=doc["book_id"], grant_id=doc["grant_id"])
    if kind == BOOK_CHECKED:
        return ShareRef(book_id=doc["book_id"], share_id=doc["share_id"])
    if kind == REMINDER:
        due_date = date.fromisoformat(doc["due_date"])
        return DueRef(book_id=doc["book_id"], item_id=doc["item_id"], due_date=due_date)
    if kind == BOOK_NOT_VALID:
        return ValidityRef(book_id=doc["book_id"])
    if kind in (ACCOUNT_LOCKED, SMS_SUMMARY) or doc.get("application_id") is None:
        return None
    return ApplicationRef(
        application_id=doc["application_id"],
        number=doc.get("number"),
        status=doc["status"],
        status_label=doc.get("status_label"),
    )


def _notification(doc: Mapping[str, Any]) -> Notification:
    return Notification(
        id=doc["_id"],
        user_id=doc["user_id"],
        kind=doc.get("kind", APPLICATION_STATUS),
        title=doc["title"],
        text=doc["text"],
        subject=_subject(doc),
        trigger_event_id=doc.get("trigger_event_id", ""),
        created_at=doc["created_at"],
        read_at=doc.get("read_at"),
    )


def message_doc(message: Message) -> Doc:
    """What a delivery's texts are rendered from, as stored."""
    if isinstance(message, BookAccess):
        return {
            "organization": message.organization,
            "until": message.until.isoformat(),
            "via": message.via,
        }
    if isinstance(message, BookCheck):
        # With its offset (UTC), as the event gave it: rendered in Moscow time at send time.
        return {"checked_at": message.checked_at.isoformat()}
    if isinstance(message, DueReminder):
        return {
            "due_kind": message.due_kind,
            "due_date": message.due_date.isoformat(),
            "days_left": message.days_left,
        }
    if isinstance(message, BookNotValid):
        return {"book_number": message.book_number}
    if isinstance(message, AccountLock):
        return {"until": message.until.isoformat()}
    if isinstance(message, RegistrationAttempt):
        return {"logins": list(message.logins)}
    if isinstance(message, SmsSummary):
        return {"count": message.count}
    return {
        "number": message.number,
        "status": message.status,
        "comment": message.comment,
        "fields": list(message.fields),
        "documents": list(message.documents),
        "book_number": message.book_number,
        "status_label": message.status_label,
        "field_labels": dict(message.field_labels),
        "document_labels": dict(message.document_labels),
    }


def message_of(kind: str, doc: Mapping[str, Any]) -> Message:
    if kind == BOOK_ACCESS:
        return BookAccess(doc["organization"], date.fromisoformat(doc["until"]), doc["via"])
    if kind == BOOK_CHECKED:
        return BookCheck(datetime.fromisoformat(doc["checked_at"]))
    if kind == REMINDER:
        due_date = date.fromisoformat(doc["due_date"])
        return DueReminder(doc["due_kind"], due_date, int(doc["days_left"]))
    if kind == BOOK_NOT_VALID:
        return BookNotValid(doc.get("book_number"))
    if kind == ACCOUNT_LOCKED:
        return AccountLock(datetime.fromisoformat(doc["until"]))
    if kind == REGISTRATION_ATTEMPTED:
        return RegistrationAttempt(tuple(doc["logins"]))
    if kind == SMS_SUMMARY:
        return SmsSummary(int(doc["count"]))
    return StatusChange(
        number=doc.get("number"),
        status=doc["status"],
        comment=doc.get("comment"),
        fields=tuple(doc.get("fields") or ()),
        documents=tuple(doc.get("documents") or ()),
        book_number=doc.get("book_number"),
        status_label=doc.get("status_label"),
        field_labels=doc.get("field_labels") or {},
        document_labels=doc.get("document_labels") or {},
    )


def _readable(kind: str, doc: Mapping[str, Any]) -> Message | Unreadable:
    try:
        return message_of(kind, doc)
    except (KeyError, TypeError, ValueError) as exc:
        return Unreadable(type(exc).__name__)


def _attempt_doc(attempt: Attempt) -> Doc:
    return {
        "n": attempt.number,
        "at": attempt.at,
        "outcome": attempt.outcome,
        "error": attempt.error,
        "to": attempt.to,
    }


def _delivery_doc(delivery: Delivery) -> Doc:
    doc: Doc = {
        "_id": delivery.id,
        "kind": delivery.kind,
        "channel": delivery.channel,
        "user_id": delivery.user_id,
        "notification_id": delivery.notification_id,
        "trigger_event_id": delivery.trigger_event_id,
    }
    if delivery.message is not None and not isinstance(delivery.message, Unreadable):
        doc["message"] = message_doc(delivery.message)
    doc.update(_subject_doc(delivery.subject))
    if delivery.code is not None:
        doc["purpose"] = delivery.code.purpose
        doc["expires_at"] = delivery.code.expires_at
    doc.update(
        state=delivery.state.value,
        attempt_count=delivery.attempt_count,
        attempts=[],
        next_attempt_at=delivery.next_attempt_at,
        claimed_until=None,
        claimed_by=None,
        claim=None,
        created_at=delivery.created_at,
    )
    if delivery.finished_at is not None:
        doc["finished_at"] = delivery.finished_at
    if delivery.code is not None and delivery.code.sealed is not None:
        doc[SEALED] = delivery.code.sealed.model_dump()
    return doc


def _delivery(doc: Mapping[str, Any]) -> Delivery:
    kind = doc.get("kind", APPLICATION_STATUS)
    code = None
    if kind == ONE_TIME_CODE:
        sealed = doc.get(SEALED)
        code = OneTimeCode(
            purpose=doc["purpose"],
            expires_at=doc["expires_at"],
            sealed=SealedBox.model_validate(sealed) if sealed is not None else None,
        )
    return Delivery(
        id=doc["_id"],
        kind=kind,
        channel=doc["channel"],
        user_id=doc["user_id"],
        notification_id=doc["notification_id"],
        trigger_event_id=doc["trigger_event_id"],
        created_at=doc["created_at"],
        next_attempt_at=doc.get("next_attempt_at"),
        state=State(doc["state"]),
        attempt_count=int(doc.get("attempt_count", 0)),
        subject=_subject(doc) if kind != ONE_TIME_CODE else None,
        message=_readable(kind, doc.get("message") or {}) if kind != ONE_TIME_CODE else None,
        code=code,
        finished_at=doc.get("finished_at"),
        claim=doc.get("claim"),
        attempts=tuple(
            Attempt(a["n"], a["at"], a["outcome"], a.get("error"), a.get("to"))
            for a in doc.get("attempts") or ()
        ),
    )
