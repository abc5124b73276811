"""Applications as the service stores them, built by the domain's own steps: each step
applied the way ``store.apply`` applies it (the version moved on), its events already
relayed, and stored in the store's own document shape (``store.shape.document_of``); then
bulk-inserted, the number counters moved past the seeded numbers and the lane counters set
by ``store.recount()``."""

from __future__ import annotations

import dataclasses
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from applications.api.schemas import DraftIn
from applications.domain.application import Application, Change
from applications.domain.calendar import DeadlinePolicy, ProductionCalendar, moscow_date
from applications.domain.employer import DraftValues, check_draft
from applications.domain.parts import Actor
from applications.domain.statuses import Status
from applications.settings import ApplicationsSettings
from applications.store import ApplicationStore
from applications.store.shape import document_of
from emk_common.crypto import FieldCipher
from emk_common.field_errors import FieldErrors
from emk_common.outbox import OUTBOX_FIELD

Doc = dict[str, Any]

OPEN = 500  # open applications, in every size
FIRST = 1_000  # the first thousand: the open ones, the citizen's six, closed ones
OPEN_STATUSES = (Status.SUBMITTED, Status.IN_REVIEW, Status.CLARIFICATION_REQUESTED)
CLOSED_WEIGHTS = {Status.APPROVED: 40, Status.ISSUED: 15, Status.REJECTED: 20, Status.DRAFT: 25}
OWN_CLOSED = (Status.DRAFT, Status.APPROVED, Status.REJECTED, Status.ISSUED)

# A valid employer the local ЕГРЮЛ does not know: accepted on its checksums alone.
DRAFT: Doc = {
    "employer": {
        "name": "ООО «Ромашка»", "inn": "7734567893", "ogrn": "1027700123450",
        "legal_address": {"region_code": "77", "locality": "г. Москва",
                          "street": "ул. Тверская", "house": "7"},
        "org_type": "head_office", "ownership": "private", "position": "Повар",
    },
    "oms_policy": "7700000000000008",
    "consent_personal_data": True,
}  # fmt: skip


def applied(change: Change, before: Application) -> Application:
    """The application after ``store.apply`` wrote ``change`` (and the relay sent its events)."""
    return dataclasses.replace(change.application, version=before.version + 1)


def _values() -> DraftValues:
    errors = FieldErrors()
    values = check_draft(DraftIn.model_validate(DRAFT).to_domain(), errors)
    assert not errors, errors.items
    return values


@dataclass
class Seeder:
    """Applications built by the domain's own steps, at times spread around ``now``."""

    cipher: FieldCipher
    now: datetime
    rng: random.Random
    operators: list[Actor]
    consent_version: str = ApplicationsSettings.model_fields["consent_text_version"].default
    numbers: dict[int, int] = field(default_factory=dict)
    calendar: ProductionCalendar = field(default_factory=ProductionCalendar)
    policy: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    values: DraftValues = field(default_factory=_values)

    def _days_ago(self, low: float, high: float) -> datetime:
        return self.now - timedelta(days=self.rng.uniform(low, high))

    def _stored(self, application: Application) -> Doc:
        """As the store keeps it: its document, the claim cleared, no events pending."""
        doc = document_of(application, self.cipher, version=application.version)
        return {**doc, "timer_claim": None, OUTBOX_FIELD: []}

    def _timers(self, application: Application, until: datetime) -> Application:
        """What the scheduler did before ``until``: a breached deadline flagged when due."""
        due = application.next_timer()
        if due is None or due > until:
            return application
        change = application.fire_timers(due)
        return applied(change, application) if change.events else application

    def draft(self, applicant_id: str, at: datetime) -> Application:
        application_id = f"{int(at.timestamp() * 1000):012x}{self.rng.getrandbits(80):020x}"
        application, _ = Application.draft(
            application_id, applicant_id, self.values, now=at, consent_version=self.consent_version
        )
        application = dataclasses.replace(application, version=1)
        for minutes, kind in enumerate(("passport", "oms_policy"), start=1):
            attached_at = at + timedelta(minutes=minutes)
            document_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
            change = application.attach(kind, document_id, now=attached_at)
            application = applied(change, application)
        return application

    def submitted(self, applicant_id: str, at: datetime) -> Application:
        application = self.draft(applicant_id, at - timedelta(hours=1))
        year = moscow_date(at).year
        self.numbers[year] = self.numbers.get(year, 0) + 1
        number = f"{year}-{self.numbers[year]:06d}"
        change = application.submit(
            number=number, now=at, calendar=self.calendar, policy=self.policy
        )
        return applied(change, application)

    def open_one(self, applicant_id: str, status: Status) -> Doc:
        submitted_at = self._days_ago(0.05, 20)
        application = self.submitted(applicant_id, submitted_at)
        if status is not Status.SUBMITTED:
            operator = self.rng.choice(self.operators)
            taken_at = submitted_at + (self.now - submitted_at) * self.rng.uniform(0.05, 0.5)
            application = self._timers(application, taken_at)
            application = applied(application.take(operator, now=taken_at), application)
            if status is Status.CLARIFICATION_REQUESTED:
                # Asked within the last day: the 3 working days to answer still run.
                asked_at = max(taken_at, self.now - timedelta(days=1)) + timedelta(minutes=5)
                application = self._timers(application, asked_at)
                change = application.request_clarification(
                    operator, comment="Скан паспорта нечитаем: загрузите новый.", fields=[],
                    documents=["passport"], now=asked_at, calendar=self.calendar,
                    policy=self.policy,
                )  # fmt: skip
                application = applied(change, application)
        application = self._timers(application, self.now)
        assert application.status == status, application.status
        assert "open" in application.lanes, application.lanes
        return self._stored(application)

    def closed_one(self, applicant_id: str, status: Status) -> Doc:
        if status is Status.DRAFT:
            return self._stored(self.draft(applicant_id, self._days_ago(1, 400)))
        submitted_at = self._days_ago(20, 400)
        application = self.submitted(applicant_id, submitted_at)
        operator = self.rng.choice(self.operators)
        taken_at = submitted_at + timedelta(days=self.rng.uniform(0.1, 3))
        application = self._timers(application, taken_at)
        application = applied(application.take(operator, now=taken_at), application)
        decided_at = taken_at + timedelta(days=self.rng.uniform(0.1, 2))
        application = self._timers(application, decided_at)
        if status is Status.REJECTED:
            change = application.reject(
                operator, reason="Должность не требует медицинской книжки.",
                fields=["employer.position"], now=decided_at,
            )  # fmt: skip
            return self._stored(applied(change, application))
        change = application.approve(operator, now=decided_at, unverified=[])
        application = applied(change, application)
        if status is Status.ISSUED:
            issued_at = decided_at + timedelta(days=self.rng.uniform(1, 10))
            application = self._timers(application, issued_at)
            book_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
            change = application.issue(
                book_id=book_id, book_number="77-01-000001-26", now=issued_at
            )
            application = applied(change, application)
        return self._stored(application)

    def closed_status(self) -> Status:
        statuses, weights = zip(*CLOSED_WEIGHTS.items(), strict=True)
        chosen: Status = self.rng.choices(statuses, weights)[0]
        return chosen


def first_thousand(seeder: Seeder, citizen_id: str, applicants: list[str]) -> list[Doc]:
    """The 500 open (two of them the citizen's), the citizen's four others, 496 closed."""
    rng = seeder.rng
    docs = [
        seeder.open_one(citizen_id if i < 2 else rng.choice(applicants), OPEN_STATUSES[i % 3])
        for i in range(OPEN)
    ]
    docs += [seeder.closed_one(citizen_id, status) for status in OWN_CLOSED]
    docs += [
        seeder.closed_one(rng.choice(applicants), seeder.closed_status())
        for _ in range(FIRST - len(docs))
    ]
    return docs


async def store_all(store: ApplicationStore, docs: list[Doc], numbers: dict[int, int]) -> float:
    """Bulk insert, the number counters moved past the seeded numbers, counters recounted;
    returns how long the recount took (the repair the scheduler runs every 10 minutes)."""
    for start in range(0, len(docs), 1000):
        await store.applications.insert_many(docs[start : start + 1000], ordered=False)
    for year, n in numbers.items():
        await store.sequences.update_one({"_id": f"number:{year}"}, {"$max": {"n": n}}, upsert=True)
    started = time.perf_counter()
    await store.recount()
    return time.perf_counter() - started
