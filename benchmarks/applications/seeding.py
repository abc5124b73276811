"""Applications as the service stores them, built by the domain's own steps: each step
written the way ``store.apply`` writes it (``derived()`` fields, history, version), its
events already relayed; then bulk-inserted, the number counters moved past the seeded
numbers and the lane counters set by ``store.recount()``."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from applications.domain import application as domain
from applications.domain.application import SYSTEM, Actor, Step, derived
from applications.domain.calendar import DeadlinePolicy, ProductionCalendar, moscow_date
from applications.domain.employer import DraftIn, check_draft
from applications.domain.statuses import Action, Status, next_status
from applications.domain.vocabulary import DOCUMENT_LABELS
from applications.settings import ApplicationsSettings
from applications.store import ApplicationStore, history_entry
from emk_common.crypto import FieldCipher
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


def _put(doc: Doc, path: str, value: Any) -> None:
    """``$set`` of one path, dotted or not (``documents.passport``)."""
    head, _, rest = path.partition(".")
    if rest:
        inner = dict(doc.get(head) or {})
        _put(inner, rest, value)
        doc[head] = inner
    else:
        doc[head] = value


def applied(doc: Doc, step: Step, actor: Actor, at: datetime) -> Doc:
    """The document after ``store.apply`` wrote ``step`` (and the relay sent its events)."""
    after = dict(doc)
    for path, value in {**step.set, "status": str(step.status)}.items():
        _put(after, path, value)
    after.update(derived(after))
    after["timer_claim"] = None
    if step.changed:
        after["last_changed_at"] = at
        after["history"] = [*doc["history"], history_entry(step.status, actor, at, step.comment)]
    after["version"] = doc["version"] + 1
    return after


def _employer() -> Doc:
    values, errors = check_draft(DraftIn.model_validate(DRAFT))
    assert not errors, errors
    return {**values["employer"], "registry_checked": False}


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
    employer: Doc = field(default_factory=_employer)

    def _days_ago(self, low: float, high: float) -> datetime:
        return self.now - timedelta(days=self.rng.uniform(low, high))

    def _step(self, doc: Doc, step: Step, actor: Actor, at: datetime) -> Doc:
        return applied(self._timers(doc, at), step, actor, at)

    def _timers(self, doc: Doc, until: datetime) -> Doc:
        """What the scheduler did before ``until``: a breached deadline flagged when due."""
        due: datetime | None = doc.get("next_timer_at")
        if due is None or due > until:
            return doc
        step = domain.fire_timers(doc, due)
        return applied(doc, step, SYSTEM, due) if step.events else doc

    def draft(self, applicant_id: str, at: datetime) -> Doc:
        application_id = f"{int(at.timestamp() * 1000):012x}{self.rng.getrandbits(80):020x}"
        citizen = Actor(user_id=applicant_id, role="citizen")
        application: Doc = {
            "_id": application_id,
            "applicant_id": applicant_id,
            "status": str(Status.DRAFT),
            "number": None,
            "employer": dict(self.employer),
            "oms_policy": self.cipher.encrypt(
                DRAFT["oms_policy"], context=f"applications:{application_id}:oms_policy"
            ),
            "consent": {"given_at": at, "text_version": self.consent_version},
            "documents": {},
            "history": [history_entry(Status.DRAFT, citizen, at, "Черновик создан")],
            "created_at": at,
            "last_changed_at": at,
        }
        doc = {**application, **derived(application), "version": 1, OUTBOX_FIELD: []}
        for minutes, kind in enumerate(("passport", "oms_policy"), start=1):
            attached_at = at + timedelta(minutes=minutes)
            step = domain.edit(doc, f"Прикреплён документ: {DOCUMENT_LABELS[kind]}")
            document = {"document_id": uuid.UUID(int=self.rng.getrandbits(128)).hex}
            step.set = {f"documents.{kind}": {**document, "attached_at": attached_at}}
            doc = applied(doc, step, citizen, attached_at)
        return doc

    def submitted(self, applicant_id: str, at: datetime) -> Doc:
        doc = self.draft(applicant_id, at - timedelta(hours=1))
        year = moscow_date(at).year
        self.numbers[year] = self.numbers.get(year, 0) + 1
        number = f"{year}-{self.numbers[year]:06d}"
        step = domain.submit(doc, number=number, now=at, calendar=self.calendar, policy=self.policy)
        return applied(doc, step, domain.applicant(doc), at)

    def open_one(self, applicant_id: str, status: Status) -> Doc:
        submitted_at = self._days_ago(0.05, 20)
        doc = self.submitted(applicant_id, submitted_at)
        if status is not Status.SUBMITTED:
            operator = self.rng.choice(self.operators)
            taken_at = submitted_at + (self.now - submitted_at) * self.rng.uniform(0.05, 0.5)
            doc = self._step(doc, domain.take(doc, operator), operator, taken_at)
            if status is Status.CLARIFICATION_REQUESTED:
                # Asked within the last day: the 3 working days to answer still run.
                asked_at = max(taken_at, self.now - timedelta(days=1)) + timedelta(minutes=5)
                step = domain.request_clarification(
                    self._timers(doc, asked_at), operator,
                    comment="Скан паспорта нечитаем: загрузите новый.", fields=[],
                    documents=["passport"], now=asked_at, calendar=self.calendar,
                    policy=self.policy,
                )  # fmt: skip
                doc = applied(self._timers(doc, asked_at), step, operator, asked_at)
        doc = self._timers(doc, self.now)
        assert doc["status"] == status, doc["status"]
        assert "open" in doc["lanes"], doc["lanes"]
        return doc

    def closed_one(self, applicant_id: str, status: Status) -> Doc:
        if status is Status.DRAFT:
            return self.draft(applicant_id, self._days_ago(1, 400))
        submitted_at = self._days_ago(20, 400)
        doc = self.submitted(applicant_id, submitted_at)
        operator = self.rng.choice(self.operators)
        taken_at = submitted_at + timedelta(days=self.rng.uniform(0.1, 3))
        doc = self._step(doc, domain.take(doc, operator), operator, taken_at)
        decided_at = taken_at + timedelta(days=self.rng.uniform(0.1, 2))
        if status is Status.REJECTED:
            step = domain.reject(
                doc, operator, reason="Должность не требует медицинской книжки.",
                fields=["employer.position"],
            )  # fmt: skip
            return self._step(doc, step, operator, decided_at)
        doc = self._step(doc, domain.approve(doc, operator), operator, decided_at)
        if status is Status.ISSUED:
            issued_at = decided_at + timedelta(days=self.rng.uniform(1, 10))
            issue = Step(status=next_status(Status.APPROVED, Action.ISSUE), comment="Книжка выдана")
            doc = self._step(doc, issue, SYSTEM, issued_at)
        return doc

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
