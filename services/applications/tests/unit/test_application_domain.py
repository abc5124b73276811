"""The pure domain of one application: lanes, timers, what each step changes and raises."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest

from applications.domain.application import Application, Change
from applications.domain.calendar import DeadlinePolicy, ProductionCalendar
from applications.domain.employer import DraftValues
from applications.domain.parts import Actor
from applications.domain.queue import lane_changes, lane_for, lanes, queue_key
from applications.domain.statuses import Status, TransitionNotAllowedError
from applications.domain.vocabulary import STATUS_LABELS, document_label, label_of
from emk_common import catalog

OPERATOR = Actor(user_id="op-1", role="operator")
CALENDAR, POLICY = ProductionCalendar(), DeadlinePolicy()
CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
_DAYS = ("submitted_on", "due_date", "answer_due")


def stored(**fields: Any) -> Application:
    """A submitted application; ``fields`` as the test writes them (statuses and dates as text)."""
    for name, value in fields.items():
        if name == "status":
            fields[name] = Status(value)
        elif name in _DAYS and isinstance(value, str):
            fields[name] = date.fromisoformat(value)
    application = Application(
        id="a" * 32,
        applicant_id="citizen-1",
        status=Status.SUBMITTED,
        created_at=CREATED,
        last_changed_at=CREATED,
        number="2026-000001",
        submitted_on=date(2026, 3, 2),
        due_date=date(2026, 3, 10),
    )
    return dataclasses.replace(application, **fields)


def names(change: Change) -> list[str]:
    # Only the latest version of an event type is published (issue #13: v2 of the status
    # change and the rejection carry no free text).
    for event in change.events:
        latest = max(c.version for c in catalog.CATALOG.values() if c.name == event.name)
        assert event.version == latest, event.event_type()
    return [e.name for e in change.events]


def test_lanes_put_open_applications_in_the_queue_and_drafts_nowhere() -> None:
    assert lanes(Status.DRAFT, overdue=False) == []
    assert lanes(Status.APPROVED, overdue=False) == ["status:approved"]
    assert set(lanes(Status.IN_REVIEW, overdue=True)) == {
        "status:in_review", "open", "overdue", "overdue:in_review",
    }  # fmt: skip
    assert lane_for(None, None) == "open"
    assert lane_for(Status.SUBMITTED, None) == "status:submitted"
    assert lane_for(None, True) == "overdue"
    assert lane_for(Status.IN_REVIEW, False) == "ontime:in_review"


def test_queue_keys_sort_by_due_date_then_id() -> None:
    early = queue_key(datetime(2026, 3, 1).date(), "f" * 32)
    late = queue_key(datetime(2026, 3, 2).date(), "0" * 32)
    assert early < late


def test_lane_changes_count_a_move_once_each_way() -> None:
    before = lanes(Status.SUBMITTED, overdue=False)
    after = lanes(Status.IN_REVIEW, overdue=False)
    assert lane_changes(before, after) == {
        "status:submitted": -1, "ontime:submitted": -1,
        "status:in_review": 1, "ontime:in_review": 1,
    }  # fmt: skip


def test_every_status_change_raises_application_status_changed() -> None:
    taken = stored().take(OPERATOR, now=NOW)
    assert taken.application.status is Status.IN_REVIEW
    assert names(taken) == ["ApplicationStatusChanged"]
    changed = taken.events[0]
    assert changed.model_dump()["previous_status"] == "submitted"
    assert changed.model_dump()["changed_by"] == "op-1"
    assert changed.model_dump()["status_label"] == "В обработке"


def test_every_field_and_document_of_the_form_has_a_label() -> None:
    paths = [
        "employer.name", "employer.inn", "employer.ogrn", "employer.legal_address",
        "employer.hr_phone", "employer.hr_email", "employer.org_type", "employer.ownership",
        "employer.department", "employer.position", "oms_policy", "consent_personal_data",
    ]  # fmt: skip
    assert all(label_of(p) != p for p in paths)
    assert label_of("employer.ogrn") == "ОГРН/ОГРНИП работодателя"
    assert document_label("medical_certificate") == "Заключение медицинского осмотра"
    assert document_label("benefit") == "benefit"
    # An operator's rejection may name a document as a field path.
    assert label_of("documents.passport") == "Скан паспорта"
    assert label_of("employer.legal_address.house") == "Юридический адрес работодателя — дом"
    assert set(STATUS_LABELS) == {s.value for s in Status}


def test_a_clarification_moves_the_deadline_and_sets_the_answer_date() -> None:
    step = stored(status="in_review").request_clarification(
        OPERATOR, comment="Нечитаемо", fields=["oms_policy"],
        documents=["passport"], now=NOW, calendar=CALENDAR, policy=POLICY,
    )  # fmt: skip
    # 10 working days from 02.03 (09.03 off)
    assert step.application.due_date == date(2026, 3, 17)
    assert step.application.answer_due == date(2026, 3, 6)
    assert names(step) == ["ApplicationStatusChanged", "ClarificationRequested"]
    assert step.events[0].model_dump()["documents"] == ["passport"]
    # The event names what it speaks of in Russian, so no consumer keeps a copy of our words.
    assert step.events[0].model_dump()["status_label"] == "Требуется уточнение"
    assert step.events[0].model_dump()["field_labels"] == {"oms_policy": "Полис ОМС"}
    assert step.events[0].model_dump()["document_labels"] == {"passport": "Скан паспорта"}


def test_a_step_from_the_wrong_status_is_refused() -> None:
    with pytest.raises(TransitionNotAllowedError):
        stored(status="submitted").approve(OPERATOR, now=NOW, unverified=[])
    with pytest.raises(TransitionNotAllowedError):
        stored(status="in_review").edit(DraftValues(), now=NOW, consent_version="1")


def test_timers_fire_only_when_due_and_only_once() -> None:
    application = stored(status="clarification_requested", answer_due="2026-03-05")
    assert application.next_timer() == datetime(2026, 3, 5, 21, 0, tzinfo=UTC)
    early = application.fire_timers(datetime(2026, 3, 5, 20, 59, tzinfo=UTC))
    assert early.events == []
    assert early.recorded is False
    due = application.fire_timers(datetime(2026, 3, 5, 21, 0, tzinfo=UTC))
    assert due.application.status is Status.REJECTED
    assert names(due) == [
        "DeadlineBreached", "ApplicationStatusChanged", "ApplicationRejected",
    ]  # fmt: skip
    after = due.application
    assert after.next_timer() is None


def test_the_review_deadline_breaches_once_and_flags_overdue() -> None:
    application = stored(status="in_review")
    late = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    step = application.fire_timers(late)
    assert step.application.status is Status.IN_REVIEW
    # The flag is all it changes (and the history says why).
    assert step.application == dataclasses.replace(
        application, overdue=True, history=step.application.history, last_changed_at=late
    )
    assert [h.comment for h in step.application.history] == ["Срок рассмотрения истёк"]
    assert names(step) == ["DeadlineBreached"]
    flagged = step.application
    assert flagged.fire_timers(late).events == []
    assert flagged.next_timer() is None
    assert "overdue" in flagged.lanes


def test_a_closed_application_has_no_timer() -> None:
    for status in ("approved", "rejected", "issued", "draft"):
        assert stored(status=status).next_timer() is None
