"""The applications' MongoDB: the aggregate with its pending events, the per-lane counters,
the projection of document statuses, numbers, the calendar an admin keeps.

This module alone knows the documents' shape (:func:`document_of`, :func:`application_of`).
Every change of an application is one conditional single-document write: on the version the
change was decided on, with its history entry and its events (the outbox). Counters follow
the write; a periodic recount repairs any drift a crash between the two could leave (they
serve totals on screen, never a decision).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from applications.domain.application import (
    Actor,
    Application,
    Attachment,
    Change,
    Clarification,
    Consent,
    HistoryEntry,
    IssuedBook,
    Rejection,
    Summary,
)
from applications.domain.calendar import CalendarSettings, Override, Period
from applications.domain.employer import Employer
from applications.domain.queue import OPEN_LANE, lane_changes, lanes
from applications.domain.statuses import LABELS, OPEN, Status
from emk_common.audit import AccessLog
from emk_common.crypto import FieldCipher
from emk_common.events import Envelope, EventData
from emk_common.mongo import claim_one, update_and_read
from emk_common.service import Runtime

Doc = dict[str, Any]
CALENDAR_ID = "production_calendar"
# Every lane an open application can be in (see domain/queue.py).
_WORKING_LANES = tuple(
    sorted(
        {
            lane
            for status in OPEN
            for overdue in (False, True)
            for lane in lanes(status, overdue=overdue)
        }
    )
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # before every timer: the claim's lower bound

# What a list shows: no personal data, no employer details beyond the name.
_LIST_FIELDS: Doc = {
    "number": 1,
    "status": 1,
    "status_label": 1,
    "applicant_id": 1,
    "assignee_id": 1,
    "due_date": 1,
    "overdue": 1,
    "submitted_at": 1,
    "created_at": 1,
    "last_changed_at": 1,
    "queue_key": 1,
    "employer.name": 1,
}


# --- the document's shape --------------------------------------------------------------------


def _oms_context(application_id: str) -> str:
    return f"applications:{application_id}:oms_policy"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _entry(entry: HistoryEntry) -> Doc:
    return {
        "status": str(entry.status),
        "status_label": LABELS[entry.status],
        "at": entry.at,
        "by": entry.by,
        "by_role": entry.by_role,
        "comment": entry.comment,
    }


def _employer(employer: Employer) -> Doc:
    return {**employer.given(), "registry_checked": employer.registry_checked}


def _fields(application: Application, cipher: FieldCipher) -> Doc:
    """Every stored field but ``_id``, the history and the version, derived ones included."""
    a = application
    return {
        "applicant_id": a.applicant_id,
        "status": str(a.status),
        "number": a.number,
        "employer": _employer(a.employer),
        "oms_policy": (
            cipher.encrypt(a.oms_policy, context=_oms_context(a.id)) if a.oms_policy else None
        ),
        "consent": (
            {"given_at": a.consent.given_at, "text_version": a.consent.text_version}
            if a.consent
            else None
        ),
        "documents": {
            kind: {"document_id": d.document_id, "attached_at": d.attached_at}
            for kind, d in a.documents.items()
        },
        "created_at": a.created_at,
        "last_changed_at": a.last_changed_at,
        "assignee_id": a.assignee_id,
        "submitted_at": a.submitted_at,
        "submitted_on": _day(a.submitted_on),
        "due_date": _day(a.due_date),
        "overdue": a.overdue,
        "clarified": a.clarified,
        "answer_due": _day(a.answer_due),
        "answered_at": a.answered_at,
        "clarification": (
            {
                "comment": a.clarification.comment,
                "fields": list(a.clarification.fields),
                "documents": list(a.clarification.documents),
                "requested_at": a.clarification.requested_at,
                "requested_by": a.clarification.requested_by,
                "answer_due": _day(a.clarification.answer_due),
            }
            if a.clarification
            else None
        ),
        "rejection": (
            {
                "reason": a.rejection.reason,
                "fields": list(a.rejection.fields),
                "automatic": a.rejection.automatic,
            }
            if a.rejection
            else None
        ),
        "approved_by": a.approved_by,
        "book": {"id": a.book.id, "number": a.book.number} if a.book else None,
        # Derived: what the lists and the scheduler index.
        "status_label": LABELS[a.status],
        "lanes": a.lanes,
        "queue_key": a.queue_key,
        "next_timer_at": a.next_timer(),
    }


def document_of(application: Application, cipher: FieldCipher, *, version: int = 1) -> Doc:
    """The stored document of an application (without pending events)."""
    return {
        "_id": application.id,
        **_fields(application, cipher),
        "history": [_entry(h) for h in application.history],
        "version": version,
    }


def application_of(doc: Doc, cipher: FieldCipher) -> Application:
    employer: Doc = doc.get("employer") or {}
    consent, clarification = doc.get("consent"), doc.get("clarification")
    rejection, book = doc.get("rejection"), doc.get("book")
    sealed = doc.get("oms_policy")
    return Application(
        id=doc["_id"],
        applicant_id=doc["applicant_id"],
        status=Status(doc["status"]),
        created_at=doc["created_at"],
        last_changed_at=doc["last_changed_at"],
        history=tuple(
            HistoryEntry(Status(h["status"]), h["at"], h["by"], h["by_role"], h.get("comment"))
            for h in doc.get("history", [])
        ),
        number=doc.get("number"),
        employer=Employer(
            **{k: v for k, v in employer.items() if k != "registry_checked"},
            registry_checked=bool(employer.get("registry_checked")),
        ),
        oms_policy=cipher.decrypt(sealed, context=_oms_context(doc["_id"])) if sealed else None,
        consent=Consent(consent["given_at"], consent["text_version"]) if consent else None,
        documents={
            kind: Attachment(d["document_id"], d["attached_at"])
            for kind, d in (doc.get("documents") or {}).items()
        },
        assignee_id=doc.get("assignee_id"),
        submitted_at=doc.get("submitted_at"),
        submitted_on=_date(doc.get("submitted_on")),
        due_date=_date(doc.get("due_date")),
        overdue=bool(doc.get("overdue")),
        clarified=bool(doc.get("clarified")),
        answer_due=_date(doc.get("answer_due")),
        answered_at=doc.get("answered_at"),
        clarification=(
            Clarification(
                comment=clarification["comment"],
                fields=tuple(clarification["fields"]),
                documents=tuple(clarification["documents"]),
                requested_at=clarification["requested_at"],
                requested_by=clarification["requested_by"],
                answer_due=date.fromisoformat(clarification["answer_due"]),
            )
            if clarification
            else None
        ),
        rejection=(
            Rejection(rejection["reason"], tuple(rejection["fields"]), rejection["automatic"])
            if rejection
            else None
        ),
        approved_by=doc.get("approved_by"),
        book=IssuedBook(book["id"], book["number"]) if book else None,
        version=doc["version"],
    )


def _summary(doc: Doc) -> Summary:
    return Summary(
        id=doc["_id"],
        applicant_id=doc["applicant_id"],
        status=Status(doc["status"]),
        number=doc.get("number"),
        employer_name=(doc.get("employer") or {}).get("name"),
        due_date=_date(doc.get("due_date")),
        overdue=bool(doc.get("overdue")),
        assignee_id=doc.get("assignee_id"),
        submitted_at=doc.get("submitted_at"),
        created_at=doc["created_at"],
        last_changed_at=doc["last_changed_at"],
    )


class ApplicationStore:
    def __init__(self, runtime: Runtime, cipher: FieldCipher) -> None:
        self.outbox = runtime.outbox
        self._clock = runtime.clock  # the events' time
        self.cipher = cipher
        self.applications = runtime.collection("applications")
        self.counters = runtime.collection("counters")
        self.sequences = runtime.collection("sequences")
        self.document_statuses = runtime.collection("document_statuses")
        self.settings = runtime.collection("settings")
        self.access_log = AccessLog(runtime.collection("access_log"), "application", runtime.clock)

    async def ensure_indexes(self) -> None:
        await self.applications.create_index(
            [("applicant_id", 1), ("_id", DESCENDING)], name="by_applicant"
        )
        await self.applications.create_index([("lanes", 1), ("queue_key", 1)], name="queue")
        await self.applications.create_index([("next_timer_at", 1)], name="timers")
        await self.access_log.ensure_indexes()

    # --- the aggregate -----------------------------------------------------------------------

    async def get(self, application_id: str) -> Application | None:
        doc = await self.applications.find_one({"_id": application_id})
        return application_of(doc, self.cipher) if doc is not None else None

    async def create(self, application: Application, events: Iterable[EventData]) -> Application:
        document = document_of(application, self.cipher)
        await self.applications.insert_one(
            self.outbox.insert(document, self._wrap(application.id, events))
        )
        await self._count({f"applicant:{application.applicant_id}": 1})
        return dataclasses.replace(application, version=1)

    async def apply(self, before: Application, change: Change) -> Application | None:
        """Writes ``change`` if the application is still the version it was decided on;
        None when someone changed it meanwhile (the caller re-reads and decides again)."""
        after = change.application
        update: Doc = {"$set": {**_fields(after, self.cipher), "timer_claim": None}}
        update["$inc"] = {"version": 1}
        if change.recorded:
            update["$push"] = {"history": _entry(after.history[-1])}
        else:
            del update["$set"]["last_changed_at"]
        staged = self.outbox.update(after.id, update, self._wrap(after.id, change.events))
        written = await update_and_read(
            self.applications, {"_id": before.id, "version": before.version}, staged
        )
        if written is None:
            return None
        await self._count(lane_changes(before.lanes, written["lanes"]))
        return application_of(written, self.cipher)

    def _wrap(self, application_id: str, events: Iterable[EventData]) -> list[Envelope]:
        at = self._clock()
        return [
            Envelope.wrap(e, source="applications", subject=application_id, at=at) for e in events
        ]

    async def next_number(self, year: int) -> str:
        """A human-readable number, unique: ``2026-000123`` (numbers of a year in order)."""
        # A sequence must read back exactly its own increment: findAndModify, on a
        # collection of one document a year (it scans its collection on the local MongoDB).
        counter = await self.sequences.find_one_and_update(
            {"_id": f"number:{year}"},
            {"$inc": {"n": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None
        return f"{year}-{counter['n']:06d}"

    # --- lists -------------------------------------------------------------------------------

    async def queue_page(self, lane: str, after: str | None, limit: int) -> list[Summary]:
        query: Doc = {"lanes": lane}
        if after is not None:
            query["queue_key"] = {"$gt": after}
        cursor = self.applications.find(query, _LIST_FIELDS).sort("queue_key", 1).limit(limit)
        return [_summary(doc) for doc in await cursor.to_list()]

    async def own_page(self, applicant_id: str, before: str | None, limit: int) -> list[Summary]:
        query: Doc = {"applicant_id": applicant_id}
        if before is not None:
            query["_id"] = {"$lt": before}
        cursor = self.applications.find(query, _LIST_FIELDS).sort("_id", DESCENDING).limit(limit)
        return [_summary(doc) for doc in await cursor.to_list()]

    async def total(self, lane: str) -> int:
        counter = await self.counters.find_one({"_id": f"lane:{lane}"})
        return max(0, int(counter["n"])) if counter else 0

    async def _count(self, changes: dict[str, int]) -> None:
        if changes:
            await self.counters.bulk_write(
                [
                    UpdateOne({"_id": f"lane:{lane}"}, {"$inc": {"n": n}}, upsert=True)
                    for lane, n in changes.items()
                ],
                ordered=False,
            )

    async def recount(self) -> None:
        """Sets the counters of the working lanes from the open applications themselves
        (an index range of a few hundred, not the whole collection) — the repair of any
        drift ``_count`` may leave. The closed lanes and the per-applicant counts only
        grow, each at one place, and are not recounted."""
        totals: dict[str, int] = dict.fromkeys(_WORKING_LANES, 0)
        async for row in self.applications.find({"lanes": OPEN_LANE}, {"lanes": 1}):
            for lane in row["lanes"]:
                totals[lane] += 1
        await self.counters.bulk_write(
            [
                UpdateOne({"_id": f"lane:{lane}"}, {"$set": {"n": n}}, upsert=True)
                for lane, n in totals.items()
            ],
            ordered=False,
        )

    # --- timers ------------------------------------------------------------------------------

    async def claim_due(self, now: datetime, hold: timedelta, owner: str) -> Application | None:
        """One application whose timer is due and that no live replica holds.

        The candidates come from the ``timers`` index (the lower bound keeps the range off
        the null entries of applications without a timer).
        """
        doc = await claim_one(
            self.applications,
            {"next_timer_at": {"$gte": _EPOCH, "$lte": now}},
            sort="next_timer_at",
            held_until="timer_claim.until",
            now=now,
            claim={"timer_claim": {"owner": owner, "until": now + hold}},
        )
        return application_of(doc, self.cipher) if doc is not None else None

    # --- documents, as learned from the documents service's events ---------------------------

    async def record_document(
        self,
        document_id: str,
        owner_id: str,
        status: str,
        at: datetime,
        session: AsyncClientSession | None,
    ) -> None:
        # A decision never goes back to pending, whatever order the events arrive in.
        if status == "pending_review":
            update: Doc = {"$setOnInsert": {"status": status, "owner_id": owner_id, "at": at}}
        else:
            update = {"$set": {"status": status, "owner_id": owner_id, "at": at}}
        await self.document_statuses.update_one(
            {"_id": document_id}, update, upsert=True, session=session
        )

    async def document_statuses_of(self, document_ids: Iterable[str]) -> dict[str, str]:
        ids = list(document_ids)
        if not ids:
            return {}
        return {
            d["_id"]: d["status"]
            async for d in self.document_statuses.find({"_id": {"$in": ids}}, {"status": 1})
        }

    # --- reads by staff ----------------------------------------------------------------------

    async def log_read(
        self, application: Application, reader: Actor, reason: str, at: datetime
    ) -> None:
        await self.access_log.record(
            application.id, application.applicant_id, actor_id=reader.user_id,
            actor_role=reader.role, action="read", reason=reason, at=at,
        )  # fmt: skip

    # --- the production calendar an admin keeps ----------------------------------------------

    async def calendar_settings(self) -> CalendarSettings:
        stored = await self.settings.find_one({"_id": CALENDAR_ID}) or {}
        return CalendarSettings(
            peak_periods=tuple(
                Period(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]))
                for p in stored.get("peak_periods", [])
            ),
            overrides=tuple(
                Override(date.fromisoformat(o["date"]), bool(o["working"]))
                for o in stored.get("overrides", [])
            ),
            updated_at=stored.get("updated_at"),
            updated_by=stored.get("updated_by"),
        )

    async def save_calendar(self, settings: CalendarSettings, actor: Actor, now: datetime) -> None:
        fields = {
            "peak_periods": [
                {"start": p.start.isoformat(), "end": p.end.isoformat()}
                for p in settings.peak_periods
            ],
            "overrides": [
                {"date": o.day.isoformat(), "working": o.working} for o in settings.overrides
            ],
        }
        await self.settings.update_one(
            {"_id": CALENDAR_ID},
            {"$set": {**fields, "updated_at": now, "updated_by": actor.user_id}},
            upsert=True,
        )
