"""In-memory fakes of the applications service's ports (``applications.ports``): the store,
identity and documents as they answer the caller (``Upstream``), ЕГРЮЛ (``Egrul``); and one
service on them, with the deadline scheduler, driven by a :class:`FakeClock`."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from applications.domain.application import Application, Change
from applications.domain.calendar import CalendarSettings
from applications.domain.employer import DraftInput, EmployerInput
from applications.domain.parts import Actor, Summary
from applications.domain.registry import Lookup
from applications.ports import OwnDocument, Peer, PeerUnavailableError, SignedOutError
from applications.scheduler import DeadlineScheduler
from applications.service import Applications
from applications.settings import ApplicationsSettings
from emk_common.auth import Principal, Role
from emk_common.events import EventData
from emk_testing import FakeClock

# Monday 2 March 2026, noon in Moscow: five working days of review end on 10 March (9 March
# is the day off for 8 March).
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# A valid employer (checksums right) that the fake ЕГРЮЛ does not know unless told.
INN, OGRN = "7734567893", "1027700123450"
ADDRESS = {"region_code": "77", "locality": "г. Москва", "street": "ул. Тверская", "house": "7"}
OMS = "7700000000000008"


def person(user_id: str, role: Role = "citizen") -> Principal:
    return Principal(user_id, role, None, None, f"token-of-{user_id}")


def bearer(who: Principal) -> str:
    """The caller's own ``Authorization`` header, as the routes pass it on."""
    return f"Bearer {who.user_id}"


def employer(**changes: Any) -> EmployerInput:
    given: dict[str, Any] = {
        "name": "ООО «Ромашка»", "inn": INN, "ogrn": OGRN, "legal_address": ADDRESS,
        "org_type": "head_office", "ownership": "private", "position": "Повар",
    }  # fmt: skip
    return EmployerInput(**{**given, **changes})


def draft(**changes: Any) -> DraftInput:
    """A complete draft (documents aside)."""
    given: dict[str, Any] = {
        "employer": employer(), "oms_policy": OMS, "consent_personal_data": True,
    }  # fmt: skip
    return DraftInput(**{**given, **changes})


@dataclass
class FakeUpstream:
    """Identity and documents as they answer the caller: own account, own documents."""

    ready: set[str] = field(default_factory=set)
    # document id → (owner, kind, status)
    documents: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    down: Peer | None = None
    signed_out: bool = False
    asked: list[str] = field(default_factory=list)

    def _answering(self, peer: Peer, authorization: str) -> str:
        self.asked.append(peer)
        if self.down == peer:
            raise PeerUnavailableError(peer)
        if self.signed_out:
            raise SignedOutError
        return authorization.removeprefix("Bearer ")

    async def account_status(self, authorization: str) -> str:
        caller = self._answering("identity", authorization)
        return "ready" if caller in self.ready else "pending_personal_data"

    async def own_document(self, authorization: str, document_id: str) -> OwnDocument | None:
        caller = self._answering("documents", authorization)
        found = self.documents.get(document_id)
        if found is None or found[0] != caller:
            return None
        return OwnDocument(document_id=document_id, kind=found[1], status=found[2])

    def upload(self, owner: Principal, kind: str, status: str = "pending_review") -> str:
        document_id = uuid.uuid4().hex
        self.documents[document_id] = (owner.user_id, kind, status)
        return document_id


@dataclass
class FakeEgrul:
    """ЕГРЮЛ that knows what the test tells it; any other pair is unknown."""

    answers: dict[tuple[str, str], Lookup] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def find(self, inn: str, ogrn: str) -> Lookup:
        self.asked.append((inn, ogrn))
        return self.answers.get((inn, ogrn), Lookup.unknown())


@dataclass
class FakeStore:
    """The applications in memory, written the way ``store`` writes them: conditionally on
    the version, a change with its events (``events``: every event written, in order)."""

    applications: dict[str, Application] = field(default_factory=dict)
    events: list[EventData] = field(default_factory=list)
    numbers: dict[int, int] = field(default_factory=dict)
    # document id → (status, owner, at)
    statuses: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    reads: list[tuple[str, Actor, str, datetime]] = field(default_factory=list)
    listed: list[tuple[str, Actor, str, datetime]] = field(default_factory=list)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    # application id → (owner, until): a replica working on its timer
    claims: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    # Changes someone else writes between our read and our next write, one per write.
    racing: list[Application] = field(default_factory=list)
    recounts: int = 0

    def snapshot(self) -> tuple[object, ...]:
        """Everything written, to compare before and after a refusal."""
        return (
            dict(self.applications), list(self.events), dict(self.numbers),
            dict(self.statuses), list(self.reads), self.calendar,
        )  # fmt: skip

    def events_of(self, application_id: str) -> list[str]:
        return [e.name for e in self.events if getattr(e, "application_id", None) == application_id]

    async def get(self, application_id: str) -> Application | None:
        return self.applications.get(application_id)

    async def create(self, application: Application, events: Iterable[EventData]) -> Application:
        assert application.id not in self.applications
        stored = dataclasses.replace(application, version=1)
        self.applications[application.id] = stored
        self.events.extend(events)
        return stored

    async def apply(self, before: Application, change: Change) -> Application | None:
        if self.racing:
            theirs = self.racing.pop(0)
            current = self.applications[theirs.id]
            self.applications[theirs.id] = dataclasses.replace(theirs, version=current.version + 1)
        current = self.applications[before.id]
        if current.version != before.version:
            return None
        after = dataclasses.replace(change.application, version=current.version + 1)
        if not change.recorded:
            after = dataclasses.replace(after, last_changed_at=current.last_changed_at)
        self.applications[before.id] = after
        self.claims.pop(before.id, None)
        self.events.extend(change.events)
        return after

    async def next_number(self, year: int) -> str:
        self.numbers[year] = self.numbers.get(year, 0) + 1
        return f"{year}-{self.numbers[year]:06d}"

    async def own_page(self, applicant_id: str, before: str | None, limit: int) -> list[Summary]:
        rows = sorted(
            (
                a.summary()
                for a in self.applications.values()
                if a.applicant_id == applicant_id and (before is None or a.id < before)
            ),
            key=lambda s: s.id,
            reverse=True,
        )
        return rows[:limit]

    async def queue_page(self, lane: str, after: str | None, limit: int) -> list[Summary]:
        rows = sorted(
            (
                a.summary()
                for a in self.applications.values()
                if lane in a.lanes and (after is None or a.queue_key > after)
            ),
            key=lambda s: s.queue_key,
        )
        return rows[:limit]

    async def total(self, lane: str) -> int:
        if lane.startswith("applicant:"):
            applicant = lane.removeprefix("applicant:")
            return sum(a.applicant_id == applicant for a in self.applications.values())
        return sum(lane in a.lanes for a in self.applications.values())

    async def recount(self) -> None:
        self.recounts += 1

    async def claim_due(self, now: datetime, hold: timedelta, owner: str) -> Application | None:
        due = sorted(
            (
                (timer, a)
                for a in self.applications.values()
                if (timer := a.next_timer()) is not None
                and timer <= now
                and (a.id not in self.claims or self.claims[a.id][1] <= now)
            ),
            key=lambda pair: pair[0],
        )
        if not due:
            return None
        application = due[0][1]
        self.claims[application.id] = (owner, now + hold)
        return application

    async def record_document(
        self,
        document_id: str,
        owner_id: str,
        status: str,
        at: datetime,
        session: AsyncClientSession | None,
    ) -> None:
        if status != "pending_review" or document_id not in self.statuses:
            self.statuses[document_id] = (status, owner_id, at)

    async def document_statuses_of(self, document_ids: Iterable[str]) -> dict[str, str]:
        return {d: self.statuses[d][0] for d in document_ids if d in self.statuses}

    async def log_read(
        self, application: Application, reader: Actor, reason: str, at: datetime
    ) -> None:
        self.reads.append((application.id, reader, reason, at))

    async def log_listed(
        self, rows: Sequence[Summary], reader: Actor, reason: str, at: datetime
    ) -> None:
        self.listed.extend((row.id, reader, reason, at) for row in rows)

    async def calendar_settings(self) -> CalendarSettings:
        return self.calendar

    async def save_calendar(self, settings: CalendarSettings, actor: Actor, now: datetime) -> None:
        self.calendar = dataclasses.replace(settings, updated_at=now, updated_by=actor.user_id)


@dataclass
class Rig:
    applications: Applications
    scheduler: DeadlineScheduler
    store: FakeStore
    upstream: FakeUpstream
    egrul: FakeEgrul
    clock: FakeClock


def rig(clock: FakeClock | None = None) -> Rig:
    clock = clock or FakeClock(START)
    store, upstream, egrul = FakeStore(), FakeUpstream(), FakeEgrul()
    settings = ApplicationsSettings()
    applications = Applications(store, settings, upstream=upstream, egrul=egrul, clock=clock)
    scheduler = DeadlineScheduler(
        store, clock, owner="replica-1", poll_seconds=3600, claim_seconds=30, recount_seconds=600
    )
    return Rig(applications, scheduler, store, upstream, egrul, clock)
