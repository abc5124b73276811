"""Checking a record as a medical worker sends it: every wrong field at once, in Russian."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from emk_common.field_errors import FieldErrors
from records.domain.records import check_record

BOOK = "0190f2c4a1b2c3d4e5f60718293a4b5c"
TODAY = date(2026, 11, 29)
BORN = date(1990, 5, 17)


def exam(**changes: Any) -> dict[str, Any]:
    record = {
        "record_id": "3f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f",
        "kind": "exam",
        "book_id": BOOK,
        "exam_type": "periodic",
        "date": "2026-11-20",
        "specialists": ["терапевт"],
        "conclusion": "fit",
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def errors_of(record: Any) -> dict[str, str]:
    errors = FieldErrors()
    checked = check_record(record, book_id=BOOK, birth_date=BORN, today=TODAY, errors=errors)
    assert (checked is None) == bool(errors)
    return {e.field: e.code for e in errors.items}


def test_a_good_exam_passes_as_it_was_sent() -> None:
    record = exam(recommendations="Повторный осмотр через 12 месяцев")
    errors = FieldErrors()
    checked = check_record(record, book_id=BOOK, birth_date=BORN, today=TODAY, errors=errors)
    assert checked is not None
    assert checked.content is record  # kept exactly, never re-serialised
    assert checked.date == date(2026, 11, 20)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"date": "2026-11-30"}, "record.date", "future"),
        ({"date": "1980-01-01"}, "record.date", "before_birth"),
        ({"date": "20.11.2026"}, "record.date", "format"),
        ({"date": "2026-02-30"}, "record.date", "format"),
        ({"conclusion": "healthy"}, "record.conclusion", "choice"),
        ({"exam_type": "annual"}, "record.exam_type", "choice"),
        ({"kind": "xray"}, "record.kind", "choice"),
        ({"book_id": "another"}, "record.book_id", "mismatch"),
        ({"record_id": "not-a-uuid"}, "record.record_id", "format"),
        ({"specialists": []}, "record.specialists", "type"),
        ({"conclusion": "fit_with_restrictions"}, "record.restriction", "missing"),
        ({"restriction": "без ночных смен"}, "record.restriction", "not_allowed"),
        ({"colour": "red"}, "record.colour", "unknown_field"),
        ({"replaces": "3f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f"}, "record.reason", "missing"),
    ],
)
def test_each_wrong_field_is_named(change: dict[str, Any], field: str, code: str) -> None:
    assert errors_of(exam(**change)).get(field) == code


def test_every_error_is_reported_at_once() -> None:
    found = errors_of(exam(date="2030-01-01", conclusion="maybe", exam_type=None))
    assert found == {
        "record.date": "future",
        "record.conclusion": "choice",
        "record.exam_type": "missing",
    }


def test_messages_are_russian_and_name_the_field() -> None:
    errors = FieldErrors()
    check_record(exam(date="2030-01-01"), book_id=BOOK, birth_date=BORN, today=TODAY, errors=errors)
    assert errors.items[0].message == "Поле «record.date»: дата не может быть в будущем"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"disease": "plague", "vaccine": "X", "dose": 1}, {"record.disease": "choice"}),
        ({"disease": "measles", "vaccine": "Вакцина", "dose": 0}, {"record.dose": "out_of_range"}),
        ({"disease": "measles", "vaccine": "Вакцина", "dose": True},
         {"record.dose": "out_of_range"}),
        ({"disease": "measles", "vaccine": "Вакцина", "dose": 1}, {}),
    ],
)  # fmt: skip
def test_vaccinations(record: dict[str, Any], expected: dict[str, str]) -> None:
    base = {"record_id": "3f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f", "kind": "vaccination",
            "book_id": BOOK, "date": "2026-11-01"}  # fmt: skip
    assert errors_of({**base, **record}) == expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"kind": "lab_result", "test": "fluorography", "result": "normal"}, {}),
        ({"kind": "lab_result", "test": "mri", "result": "normal"}, {"record.test": "choice"}),
        ({"kind": "lab_result", "test": "helminths", "result": "ok"}, {"record.result": "choice"}),
        ({"kind": "certification", "category": "food", "passed": True}, {}),
        ({"kind": "certification", "category": "cooking", "passed": True},
         {"record.category": "choice"}),
        ({"kind": "certification", "category": "food", "passed": "yes"},
         {"record.passed": "type"}),
    ],
)  # fmt: skip
def test_lab_results_and_certifications(record: dict[str, Any], expected: dict[str, str]) -> None:
    base = {"record_id": "3f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f", "book_id": BOOK,
            "date": "2026-11-01"}  # fmt: skip
    assert errors_of({**base, **record}) == expected


def test_not_an_object() -> None:
    assert errors_of(["exam"]) == {"record": "type"}
