"""The book's decisions: issue, positions, records and corrections, grants, rechecks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from emk_common import catalog
from emk_common.field_errors import FieldErrors
from records.domain import book as domain
from records.domain.book import Author, Book, Holder, Organization, Position
from records.domain.records import check_record

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 29)
HOLDER = Holder("Иванов", "Иван", "Иванович", date(1990, 5, 17), "11223344595")
CLINIC = Organization("1027700132195", "Поликлиника № 1")
WORKER = Author("worker-1", "Петрова Анна")


def position(application_id: str = "app-1") -> Position:
    return Position(application_id, "ООО «Ромашка»", "7734567893", "Повар", None, TODAY)


def new_book() -> Book:
    book, _ = domain.issue(book_id="b1", holder_id="u1", number="77-01-000001-26", holder=HOLDER,
                           position=position(), now=NOW, today=TODAY)  # fmt: skip
    return book


def record(kind: str = "exam", record_id: str = "3f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f",
           **fields: Any) -> dict[str, Any]:  # fmt: skip
    defaults: dict[str, dict[str, Any]] = {
        "exam": {"exam_type": "periodic", "specialists": ["терапевт"], "conclusion": "fit"},
        "certification": {"category": "food", "passed": True},
        "vaccination": {"disease": "diphtheria", "vaccine": "АДС-М", "dose": 1},
    }
    return {"record_id": record_id, "kind": kind, "book_id": "b1", "date": "2026-11-20",
            **defaults[kind], **fields}  # fmt: skip


def add(book: Book, raw: dict[str, Any], now: datetime = NOW) -> tuple[Book, domain.Change]:
    errors = FieldErrors()
    checked = check_record(raw, book_id=book.id, birth_date=HOLDER.birth_date, today=TODAY,
                           errors=errors)  # fmt: skip
    assert checked is not None, errors.items
    change = domain.add_record(
        book, checked, author=WORKER, organization=CLINIC, key_id="k-1", signature="sig",
        canonical_sha256="00", now=now, today=TODAY, errors=errors,
    )  # fmt: skip
    assert change is not None, errors.items
    assert change.record is not None
    assert change.basis is not None
    assert change.published is not None
    written = Book(**{**book.__dict__, "records": (*book.records, change.record),
                      "basis": change.basis, "published": change.published,
                      "version": book.version + 1})  # fmt: skip
    return written, change


def names(change: domain.Change) -> list[str]:
    return [type(e).__name__ for e in change.events]


def test_a_new_book_is_issued_with_its_first_due_dates_and_no_status_change() -> None:
    book, events = domain.issue(
        book_id="b1", holder_id="u1", number="77-01-000001-26", holder=HOLDER,
        position=position(), now=NOW, today=TODAY,
    )  # fmt: skip
    assert [type(e).__name__ for e in events] == ["MedicalBookIssued", "BookDueDatesChanged"]
    issued = events[0]
    assert isinstance(issued, catalog.MedicalBookIssued)
    assert issued.application_id == "app-1"
    assert book.status(TODAY) == "expired"  # nothing recorded yet
    assert book.published.status == "not_valid"


def test_the_number_has_the_shape_of_the_rules() -> None:
    assert domain.format_number("86", "01", 27970, 2025) == "86-01-027970-25"
    with pytest.raises(ValueError, match="region"):
        domain.format_number("7", "01", 1, 2026)


def test_a_second_approval_adds_a_position_once() -> None:
    book = new_book()
    change = domain.add_position(book, position("app-2"))
    assert change is not None
    assert names(change) == ["PositionAdded"]
    assert domain.add_position(book, position("app-1")) is None  # already in the book


def test_recording_until_valid_publishes_each_change() -> None:
    book, change = add(new_book(), record("exam"))
    assert names(change) == ["ExamRecorded", "BookDueDatesChanged"]  # still not valid
    book, change = add(book, record("certification", "7b0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f"))
    assert names(change) == ["CertificationRecorded", "BookValidityChanged", "BookDueDatesChanged"]
    validity = change.events[1]
    assert isinstance(validity, catalog.BookValidityChanged)
    assert validity.status == "valid"
    assert validity.valid_until == date(2027, 11, 20)
    assert book.status(TODAY) == "valid"


def test_the_same_record_twice_is_refused() -> None:
    book, _ = add(new_book(), record("exam"))
    errors = FieldErrors()
    checked = check_record(record("exam"), book_id="b1", birth_date=None, today=TODAY,
                           errors=errors)  # fmt: skip
    assert checked is not None
    with pytest.raises(domain.DuplicateRecordError):
        domain.add_record(book, checked, author=WORKER, organization=CLINIC, key_id="k",
                          signature="s", canonical_sha256="0", now=NOW, today=TODAY,
                          errors=errors)  # fmt: skip


def test_a_correction_is_a_new_version_and_the_old_one_stays() -> None:
    first = "3f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f"
    book, _ = add(new_book(), record("exam", first, conclusion="unfit"))
    book, change = add(book, record("exam", "9a0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f",
                                    replaces=first, reason="Ошибка в заключении"))  # fmt: skip
    assert names(change)[0] == "RecordCorrected"
    history = book.history(first)
    assert [(v.version, v.content["conclusion"]) for v in history] == [(1, "unfit"), (2, "fit")]
    [current] = book.current_records()
    assert current.version == 2
    assert current.id == first


def test_a_correction_must_keep_the_kind_and_name_a_record_of_this_book() -> None:
    first = "3f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f"
    book, _ = add(new_book(), record("exam", first))
    for raw, field in (
        (record("certification", "9a0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f", replaces=first,
                reason="x"), "record.kind"),
        (record("exam", "9a0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f",
                replaces="11111111-1111-1111-1111-111111111111", reason="x"), "record.replaces"),
    ):  # fmt: skip
        errors = FieldErrors()
        checked = check_record(raw, book_id="b1", birth_date=None, today=TODAY, errors=errors)
        assert checked is not None
        change = domain.add_record(book, checked, author=WORKER, organization=CLINIC, key_id="k",
                                   signature="s", canonical_sha256="0", now=NOW, today=TODAY,
                                   errors=errors)  # fmt: skip
        assert change is None
        assert [e.field for e in errors.items] == [field]


def test_grants_open_the_book_to_one_organisation_until_they_end() -> None:
    book = new_book()
    change = domain.open_to(book, grant_id="g1", organization=CLINIC, worker_id="worker-1",
                            via="identifiers", now=NOW, days=30)  # fmt: skip
    assert change is not None
    assert change.grant is not None
    assert names(change) == ["BookAccessGranted"]
    granted = Book(**{**book.__dict__, "grants": (change.grant,)})
    assert granted.open_to(CLINIC.id, NOW + timedelta(days=29))
    assert not granted.open_to(CLINIC.id, NOW + timedelta(days=30))
    assert not granted.open_to("1037739010891", NOW)
    ended = domain.end_grants(granted, ["g1"], by="u1", now=NOW)
    assert ended is not None
    assert names(ended) == ["BookAccessEnded"]
    assert domain.end_grants(granted, ["unknown"], by="u1", now=NOW) is None


def test_a_recheck_tells_the_topic_only_of_changes() -> None:
    book, _ = add(new_book(), record("exam", date="2026-01-12"))
    book, _ = add(book, record("certification", "7b0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f",
                               category="other", date="2026-01-12"))  # fmt: skip
    assert domain.recheck(book, TODAY).events == []  # nothing new
    later = domain.recheck(book, date(2026, 12, 13))
    assert names(later) == ["BookValidityChanged"]
    validity = later.events[0]
    assert isinstance(validity, catalog.BookValidityChanged)
    assert validity.status == "expiring"


def test_masked_name_for_the_public() -> None:
    assert HOLDER.masked_name == "Иванов И. И."
    assert Holder("Петрова", "Анна", None, date(1990, 1, 1), "").masked_name == "Петрова А."


def test_correcting_an_older_exam_does_not_make_it_the_latest() -> None:
    unfit, fit = "3f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f", "4f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f"
    book, _ = add(new_book(), record("exam", unfit, conclusion="unfit"))
    book, _ = add(book, record("exam", fit), now=NOW + timedelta(hours=1))
    book, _ = add(book, record("certification", "5f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f"))
    assert book.status(TODAY) == "valid"  # the later exam of the day is «Годен»
    fixed = {"replaces": unfit, "reason": "Опечатка в рекомендациях", "recommendations": "—"}
    typo = record("exam", "6f0c2b1e-6a5d-4c1b-9e7f-2a4b6c8d0e1f", conclusion="unfit", **fixed)
    book, change = add(book, typo, now=NOW + timedelta(hours=2))
    assert book.status(TODAY) == "valid"
    assert [type(e).__name__ for e in change.events] == ["RecordCorrected"]


def test_a_second_lookup_the_same_day_changes_nothing_and_a_later_one_extends() -> None:
    book = new_book()
    first = domain.open_to(book, grant_id="g1", organization=CLINIC, worker_id="w1",
                           via="identifiers", now=NOW, days=30)  # fmt: skip
    assert first is not None
    assert first.grant is not None
    opened = Book(**{**book.__dict__, "grants": (first.grant,)})
    again = domain.open_to(opened, grant_id="g2", organization=CLINIC, worker_id="w2",
                           via="visit_code", now=NOW + timedelta(hours=3), days=30)  # fmt: skip
    assert again is None
    later = domain.open_to(opened, grant_id="g3", organization=CLINIC, worker_id="w2",
                           via="visit_code", now=NOW + timedelta(days=2), days=30)  # fmt: skip
    assert later is not None
    assert later.grant is not None
    assert later.grant.id == "g1"  # the same grant, extended
    assert later.grant.expires_at == NOW + timedelta(days=32)
