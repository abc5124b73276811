"""The applications' MongoDB: the aggregate with its pending events, the per-lane
counters, the projection of document statuses, numbers, the calendar an admin keeps.

Every change of an application is one conditional single-document write: on the
version the change was computed from, with its history entry and its events (the
outbox). Counters follow the write; a periodic recount repairs any drift a crash
between the two could leave (they serve totals on screen, never a decision).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from applications.domain.application import Actor, Step, derived
from applications.domain.calendar import Period, ProductionCalendar
from applications.domain.queue import OPEN_LANE, lane_changes, lanes
from applications.domain.statuses import LABELS, OPEN, Status
from emk_common.audit import AccessLog
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


def history_entry(
    status: Status, actor: Actor, at: datetime, comment: str | None
) -> dict[str, Any]:
    return {
        "status": str(status),
        "status_label": LABELS[status],
        "at": at,
        "by": actor.user_id,
        "by_role": actor.role,
        "comment": comment,
    }


class ApplicationStore:
    def __init__(self, runtime: Runtime) -> None:
        self.outbox = runtime.outbox
        self.applications = runtime.collection("applications")
        self.counters = runtime.collection("counters")
        self.sequences = runtime.collection("sequences")
        self.document_statuses = runtime.collection("document_statuses")
        self.settings = runtime.collection("settings")
        self.access_log = AccessLog(runtime.collection("access_log"), "application")

    async def ensure_indexes(self) -> None:
        await self.applications.create_index(
            [("applicant_id", 1), ("_id", DESCENDING)], name="by_applicant"
        )
        await self.applications.create_index([("lanes", 1), ("queue_key", 1)], name="queue")
        await self.applications.create_index([("next_timer_at", 1)], name="timers")
        await self.access_log.ensure_indexes()

    # --- the aggregate -----------------------------------------------------------------------

    async def get(self, application_id: str) -> Doc | None:
        return await self.applications.find_one({"_id": application_id})

    async def create(self, application: Doc, events: Iterable[EventData]) -> Doc:
        document = {**application, **derived(application), "version": 1}
        await self.applications.insert_one(
            self.outbox.insert(document, self._wrap(application["_id"], events))
        )
        await self._count({f"applicant:{application['applicant_id']}": 1})
        return document

    async def apply(self, application: Doc, step: Step, actor: Actor, now: datetime) -> Doc | None:
        """Writes ``step`` if the application is still the version it was computed from;
        None when someone changed it meanwhile (the caller re-reads and decides again)."""
        after = {**application, **step.set, "status": str(step.status)}
        fields = {**step.set, "status": str(step.status), **derived(after), "timer_claim": None}
        if step.changed:
            fields["last_changed_at"] = now
        update: Doc = {"$set": fields, "$inc": {"version": 1}}
        if step.changed:
            update["$push"] = {"history": history_entry(step.status, actor, now, step.comment)}
        staged = self.outbox.update(
            application["_id"], update, self._wrap(application["_id"], step.events)
        )
        written = await update_and_read(
            self.applications,
            {"_id": application["_id"], "version": application["version"]},
            staged,
        )
        if written is None:
            return None
        await self._count(lane_changes(application.get("lanes", []), written["lanes"]))
        return written

    @staticmethod
    def _wrap(application_id: str, events: Iterable[EventData]) -> list[Envelope]:
        return [Envelope.wrap(e, source="applications", subject=application_id) for e in events]

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

    async def queue_page(self, lane: str, after: str | None, limit: int) -> list[Doc]:
        query: Doc = {"lanes": lane}
        if after is not None:
            query["queue_key"] = {"$gt": after}
        cursor = self.applications.find(query, _LIST_FIELDS).sort("queue_key", 1).limit(limit)
        return await cursor.to_list()

    async def own_page(self, applicant_id: str, before: str | None, limit: int) -> list[Doc]:
        query: Doc = {"applicant_id": applicant_id}
        if before is not None:
            query["_id"] = {"$lt": before}
        cursor = self.applications.find(query, _LIST_FIELDS).sort("_id", DESCENDING).limit(limit)
        return await cursor.to_list()

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

    async def claim_due(self, now: datetime, hold: timedelta, owner: str) -> Doc | None:
        """One application whose timer is due and that no live replica holds.

        The candidates come from the ``timers`` index (the lower bound keeps the range off
        the null entries of applications without a timer).
        """
        return await claim_one(
            self.applications,
            {"next_timer_at": {"$gte": _EPOCH, "$lte": now}},
            sort="next_timer_at",
            held_until="timer_claim.until",
            now=now,
            claim={"timer_claim": {"owner": owner, "until": now + hold}},
        )

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

    # --- the production calendar an admin keeps ----------------------------------------------

    async def calendar(self) -> ProductionCalendar:
        stored = await self.settings.find_one({"_id": CALENDAR_ID}) or {}
        return ProductionCalendar(
            overrides={
                date.fromisoformat(o["date"]): bool(o["working"])
                for o in stored.get("overrides", [])
            },
            peak_periods=[
                Period(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]))
                for p in stored.get("peak_periods", [])
            ],
        )

    async def calendar_settings(self) -> Doc:
        stored = await self.settings.find_one({"_id": CALENDAR_ID}) or {}
        return {
            "peak_periods": stored.get("peak_periods", []),
            "overrides": stored.get("overrides", []),
            "updated_at": stored.get("updated_at"),
            "updated_by": stored.get("updated_by"),
        }

    async def save_calendar(self, settings: Doc, actor: Actor, now: datetime) -> None:
        await self.settings.update_one(
            {"_id": CALENDAR_ID},
            {"$set": {**settings, "updated_at": now, "updated_by": actor.user_id}},
            upsert=True,
        )


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
