"""Validity of a book on a day, and its due dates (DOMAIN.md, «The book»): a table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from records.domain.validity import (
    Basis,
    Current,
    basis_of,
    next_change,
    public_status,
    public_status_until,
    status_at,
    valid_until,
)

ISSUED = date(2026, 1, 10)


@dataclass
class Rec:
    kind: str
    on: str
    content: dict[str, Any] = field(default_factory=dict)

    def current(self, n: int) -> Current:
        # Recorded in the order listed: ``n`` breaks ties between records of one date.
        recorded_at = datetime(2026, 1, 1, tzinfo=UTC).replace(microsecond=n)
        return Current(f"r{n}", self.kind, date.fromisoformat(self.on), recorded_at, self.content)


def exam(on: str, conclusion: str = "fit") -> Rec:
    return Rec("exam", on, {"conclusion": conclusion})


def cert(on: str, category: str = "food", passed: bool = True) -> Rec:
    return Rec("certification", on, {"category": category, "passed": passed})


def vacc(on: str, disease: str) -> Rec:
    return Rec("vaccination", on, {"disease": disease})


def status(records: list[Rec], today: str) -> str:
    basis = basis_of([r.current(i) for i, r in enumerate(records)], ISSUED)
    return status_at(basis, date.fromisoformat(today))


CASES = [
    # (why, records, today, expected)
    ("a new book: nothing recorded yet", [], "2026-01-10", "expired"),
    ("an exam but no attestation", [exam("2026-01-12")], "2026-01-12", "expired"),
    ("an attestation but no exam", [cert("2026-01-12")], "2026-01-12", "expired"),
    ("a failed attestation does not count", [exam("2026-01-12"), cert("2026-01-12", passed=False)],
     "2026-01-12", "expired"),
    ("fit and attested, far from due", [exam("2026-01-12"), cert("2026-01-12")], "2026-03-01",
     "valid"),
    ("Ограниченно годен is valid",
     [exam("2026-01-12", "fit_with_restrictions"), cert("2026-01-12")], "2026-03-01", "valid"),
    ("Не годен suspends", [exam("2026-01-12", "unfit"), cert("2026-01-12")], "2026-03-01",
     "suspended"),
    ("Не годен, then Годен: valid again",
     [exam("2026-01-12", "unfit"), exam("2026-02-01"), cert("2026-01-12")], "2026-03-01", "valid"),
    ("Годен, then Не годен: suspended",
     [exam("2026-01-12"), exam("2026-02-01", "unfit"), cert("2026-01-12")], "2026-03-01",
     "suspended"),
    ("31 days before the exam is due: valid", [exam("2026-01-12"), cert("2026-01-12", "education")],
     "2026-12-12", "valid"),
    ("30 days before the exam is due: expiring",
     [exam("2026-01-12"), cert("2026-01-12", "education")], "2026-12-13", "expiring"),
    ("the exam's last valid day: still expiring",
     [exam("2026-01-12"), cert("2026-01-12", "education")], "2027-01-12", "expiring"),
    ("the day after: expired", [exam("2026-01-12"), cert("2026-01-12", "education")], "2027-01-13",
     "expired"),
    ("food attestation is yearly", [exam("2026-06-01"), cert("2026-01-12", "food")], "2027-01-13",
     "expired"),
    ("other work: every 2 years", [exam("2026-12-01"), cert("2026-01-12", "other")], "2027-01-13",
     "valid"),
    ("an exam on 29.02.2028 is due 28.02.2029 (ГК РФ ст. 192)",
     [exam("2028-02-29"), cert("2028-02-29", "other")], "2029-02-28", "expiring"),
    ("... and not valid on 01.03.2029", [exam("2028-02-29"), cert("2028-02-29", "other")],
     "2029-03-01", "expired"),
    ("vaccinations do not drive validity", [exam("2026-01-12"), cert("2026-01-12"),
     vacc("2000-01-01", "diphtheria")], "2026-03-01", "valid"),
]  # fmt: skip


@pytest.mark.parametrize(("why", "records", "today", "expected"), CASES, ids=[c[0] for c in CASES])
def test_status(why: str, records: list[Rec], today: str, expected: str) -> None:
    assert status(records, today) == expected


def test_due_dates_follow_from_what_is_recorded() -> None:
    records = [
        exam("2026-02-01"), cert("2026-01-20", "water_supply"),
        vacc("2020-05-05", "diphtheria"), vacc("2025-10-01", "influenza"),
        vacc("2024-03-03", "hepatitis_b"),  # a course: nothing falls due
    ]  # fmt: skip
    basis = basis_of([r.current(i) for i, r in enumerate(records)], ISSUED)
    assert [(d.kind, d.item, d.due_date.isoformat()) for d in basis.due] == [
        # Water-supply work: the epidemic vaccinations not given yet are due at once.
        ("vaccination", "hepatitis_a", "2026-01-10"),
        ("vaccination", "shigellosis", "2026-01-10"),
        ("vaccination", "influenza", "2026-10-01"),
        ("attestation", None, "2027-01-20"),
        ("periodic_exam", None, "2027-02-01"),
        ("vaccination", "diphtheria", "2030-05-05"),
    ]
    assert valid_until(basis) == date(2027, 1, 20)
    # Each due item names the record it follows from.
    assert {d.kind: d.item_id for d in basis.due if d.kind != "vaccination"} == {
        "attestation": "r1",
        "periodic_exam": "r0",
    }


def test_nothing_recorded_is_due_at_once() -> None:
    basis = basis_of([], ISSUED)
    assert [(d.kind, d.due_date) for d in basis.due] == [
        ("attestation", ISSUED),
        ("periodic_exam", ISSUED),
    ]
    assert valid_until(basis) is None


def test_the_latest_passed_certification_sets_the_next_one() -> None:
    records = [cert("2026-01-12", "food"), cert("2026-06-01", "food", passed=False)]
    basis = basis_of([r.current(i) for i, r in enumerate(records)], ISSUED)
    assert basis.attestation_due == date(2027, 1, 12)


def test_the_next_calendar_change() -> None:
    basis = basis_of([exam("2026-01-12").current(0), cert("2026-01-12", "other").current(1)],
                     ISSUED)  # fmt: skip
    assert next_change(basis, date(2026, 3, 1)) == date(2026, 12, 13)  # expiring begins
    assert next_change(basis, date(2026, 12, 13)) == date(2027, 1, 13)  # expired begins
    assert next_change(basis, date(2027, 1, 13)) is None
    suspended = basis_of([exam("2026-01-12", "unfit").current(0)], ISSUED)
    assert next_change(suspended, date(2026, 3, 1)) is None


def test_the_public_never_learns_of_a_suspension() -> None:
    assert public_status("suspended") == "not_valid"
    assert public_status("expired") == "not_valid"
    assert public_status("expiring") == "expiring"
    assert public_status("valid") == "valid"


def test_food_and_water_work_expects_the_epidemic_vaccinations_until_given() -> None:
    records = [exam("2026-02-01"), cert("2026-01-20", "food"), vacc("2026-03-01", "hepatitis_a")]
    basis = basis_of([r.current(i) for i, r in enumerate(records)], ISSUED, salt="book-1")
    expected = [d for d in basis.due if d.item_id.startswith("expected-")]
    assert [(d.kind, d.item, d.due_date) for d in expected] == [
        ("vaccination", "shigellosis", ISSUED)  # hepatitis A was given; shigellosis is due
    ]
    assert "shigellosis" not in expected[0].item_id  # the topic sees an opaque id
    other = basis_of([cert("2026-01-20", "education").current(0)], ISSUED, salt="book-1")
    assert not [d for d in other.due if d.kind == "vaccination"]
    assert status_at(basis, date(2026, 3, 10)) == "valid"  # reminders, not validity


def test_the_last_valid_day_alone_gives_the_public_status_of_every_day() -> None:
    """A share keeps only the last valid day (its public card): the status it derives on any
    day is the one the whole basis gives, for every kind of book, around every boundary."""
    dues = (None, date(2026, 3, 1), date(2026, 3, 31), date(2027, 1, 1))
    bases = [
        Basis(suspended=suspended, exam_due=exam_due, attestation_due=attestation_due, due=())
        for suspended in (False, True)
        for exam_due in dues
        for attestation_due in dues
    ]
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(0, 400, 1)]
    for basis in bases:
        for day in days:
            expected = public_status(status_at(basis, day))
            assert public_status_until(valid_until(basis), day) == expected, (basis, day)
