"""Whether a book is valid on a day, and everything that falls due — a pure function of the
current version of each record (DOMAIN.md, «The book»).

* next periodic exam = the latest exam + 1 year; next attestation = the latest *passed*
  certification + 1 or 2 years by its category; revaccination per disease;
* a due date is the last valid day; a term of years ends per ГК РФ ст. 192;
* a book with no exam or no passed certification yet has them due at once (its issue day);
* status: ``suspended`` if the latest exam is «Не годен»; else ``expired`` if an exam or a
  passed certification is missing or a due date has passed; else ``expiring`` when one
  falls within 30 days; else ``valid``. Vaccinations drive reminders, not validity: a
  revaccination is due by its period, and for food and water-supply work (the category of the
  latest certification) hepatitis A and shigellosis are due at once until given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from records.domain.dates import add_years, days
from records.domain.vocabulary import (
    EPIDEMIC_EXPECTED,
    EXAM_PERIOD_YEARS,
    EXPIRING_WITHIN_DAYS,
    REVACCINATION_YEARS,
    attestation_years,
)

Status = Literal["valid", "expiring", "expired", "suspended"]
PublicStatus = Literal["valid", "expiring", "not_valid"]
DueKind = Literal["periodic_exam", "attestation", "vaccination"]

STATUS_LABELS: dict[str, str] = {
    "valid": "Действует",
    "expiring": "Действует",
    "expired": "Не действует",
    "suspended": "Не действует",
    "not_valid": "Не действует",
}


@dataclass(frozen=True)
class Current:
    """The current version of one record: what validity reads of it."""

    id: str  # the record's id (its first version's record_id)
    kind: str
    date: date
    recorded_at: datetime
    content: Mapping[str, Any]


@dataclass(frozen=True)
class Due:
    kind: DueKind
    item_id: str  # the record it follows from, or the kind itself when nothing is recorded
    due_date: date
    item: str | None = None  # the disease of a revaccination (never on a topic)


@dataclass(frozen=True)
class Basis:
    """What a book's validity on any day follows from."""

    suspended: bool
    exam_due: date | None
    attestation_due: date | None
    due: tuple[Due, ...]


def basis_of(records: Iterable[Current], issued_on: date, *, salt: str = "") -> Basis:
    """``salt`` (the book's id) makes the ids of expected vaccinations opaque: a due item on a
    topic must not name a disease."""
    exams: list[Current] = []
    passed: list[Current] = []
    category: str | None = None
    vaccinations: dict[str, Current] = {}
    for record in sorted(records, key=lambda r: (r.date, r.recorded_at)):
        if record.kind == "exam":
            exams.append(record)
        elif record.kind == "certification":
            category = str(record.content.get("category"))  # the latest says the work
            if record.content.get("passed") is True:
                passed.append(record)
        elif record.kind == "vaccination":
            vaccinations[str(record.content.get("disease"))] = record  # the latest wins
    due: list[Due] = []
    exam_due = attestation_due = None
    if exams:
        latest = exams[-1]
        exam_due = add_years(latest.date, EXAM_PERIOD_YEARS)
        due.append(Due("periodic_exam", latest.id, exam_due))
    else:
        due.append(Due("periodic_exam", "periodic_exam", issued_on))
    if passed:
        latest = passed[-1]
        years = attestation_years(str(latest.content.get("category")))
        attestation_due = add_years(latest.date, years)
        due.append(Due("attestation", latest.id, attestation_due))
    else:
        due.append(Due("attestation", "attestation", issued_on))
    for disease, record in sorted(vaccinations.items()):
        every = REVACCINATION_YEARS.get(disease)
        if every is not None:
            due.append(Due("vaccination", record.id, add_years(record.date, every), disease))
    for disease in EPIDEMIC_EXPECTED.get(category or "", ()):
        if disease not in vaccinations:  # expected for this work and not given: due at once
            opaque = hashlib.sha256(f"{salt}:{disease}".encode()).hexdigest()[:16]
            due.append(Due("vaccination", f"expected-{opaque}", issued_on, disease))
    suspended = bool(exams) and exams[-1].content.get("conclusion") == "unfit"
    return Basis(
        suspended=suspended,
        exam_due=exam_due,
        attestation_due=attestation_due,
        due=tuple(sorted(due, key=lambda d: (d.due_date, d.kind, d.item or "", d.item_id))),
    )


def status_at(basis: Basis, today: date) -> Status:
    if basis.suspended:
        return "suspended"
    if basis.exam_due is None or basis.attestation_due is None:
        return "expired"
    earliest = min(basis.exam_due, basis.attestation_due)
    if today > earliest:
        return "expired"
    if earliest <= today + days(EXPIRING_WITHIN_DAYS):
        return "expiring"
    return "valid"


def public_status(status: Status) -> PublicStatus:
    """What the public, employers and the topic may know: «Не годен» is nobody's business."""
    return "not_valid" if status in ("expired", "suspended") else status  # type: ignore[return-value]


def public_status_until(last_valid_day: date | None, today: date) -> PublicStatus:
    """The public status from the book's last valid day alone (``valid_until``; None: not
    valid whatever the day) — what a share's public card keeps. The same answer as
    ``public_status(status_at(basis, today))`` for the basis that day came from."""
    if last_valid_day is None or today > last_valid_day:
        return "not_valid"
    if last_valid_day <= today + days(EXPIRING_WITHIN_DAYS):
        return "expiring"
    return "valid"


def valid_until(basis: Basis) -> date | None:
    """The last day the book is valid, unless something new is recorded."""
    if basis.suspended or basis.exam_due is None or basis.attestation_due is None:
        return None
    return min(basis.exam_due, basis.attestation_due)


def next_change(basis: Basis, today: date) -> date | None:
    """The first day after ``today`` on which the status may change with the calendar alone
    (``expiring`` begins 30 days before a due date, ``expired`` the day after it)."""
    if basis.suspended:
        return None
    now = status_at(basis, today)
    candidates = sorted(
        day
        for due in (basis.exam_due, basis.attestation_due)
        if due is not None
        for day in (due - days(EXPIRING_WITHIN_DAYS), due + days(1))
        if day > today
    )
    return next((day for day in candidates if status_at(basis, day) != now), None)
