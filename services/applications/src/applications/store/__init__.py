"""The applications' MongoDB: the aggregate with its pending events, the per-lane counters,
the projection of document statuses, numbers, the calendar an admin keeps.

This package alone knows the documents' shape (``shape.py``: :func:`document_of`,
:func:`application_of`). Every change of an application is one conditional single-document
write: on the version the change was decided on, with its history entry and its events (the
outbox). Counters follow the write; a periodic recount repairs any drift a crash between the
two could leave (they serve totals on screen, never a decision). It implements
``ports.Store``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from applications.domain.application import Application, Change
from applications.domain.calendar import CalendarSettings, Override, Period
from applications.domain.parts import Actor, Summary
from applications.domain.queue import OPEN_LANE, lane_changes, lanes
from applications.domain.statuses import OPEN
from applications.store.shape import (
    LIST_FIELDS,
    Doc,
    application_of,
    document_of,
    entry_of,
    fields_of,
    summary_of,
)
from emk_common.audit import AccessLog
from emk_common.crypto import FieldCipher
from emk_common.events import Envelope, EventData
from emk_common.mongo import claim_one, update_and_read
from emk_common.service import Runtime

__all__ = ["ApplicationStore"]

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
        update: Doc = {"$set": {**fields_of(after, self.cipher), "timer_claim": None}}
        update["$inc"] = {"version": 1}
        if change.recorded:
            update["$push"] = {"history": entry_of(after.history[-1])}
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
        cursor = self.applications.find(query, LIST_FIELDS).sort("queue_key", 1).limit(limit)
        return [summary_of(doc) for doc in await cursor.to_list()]

    async def own_page(self, applicant_id: str, before: str | None, limit: int) -> list[Summary]:
        query: Doc = {"applicant_id": applicant_id}
        if before is not None:
            query["_id"] = {"$lt": before}
        cursor = self.applications.find(query, LIST_FIELDS).sort("_id", DESCENDING).limit(limit)
        return [summary_of(doc) for doc in await cursor.to_list()]

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

    async def log_listed(
        self, rows: Sequence[Summary], reader: Actor, reason: str, at: datetime
    ) -> None:
        await self.access_log.record_many(
            ((row.id, row.applicant_id) for row in rows), actor_id=reader.user_id,
            actor_role=reader.role, action="list", reason=reason, at=at,
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
