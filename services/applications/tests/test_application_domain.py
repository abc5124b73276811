"""The pure domain of one application: lanes, timers, what each step changes and raises."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from applications.domain import application as domain
from applications.domain.application import Actor
from applications.domain.calendar import DeadlinePolicy, ProductionCalendar
from applications.domain.queue import lane_changes, lane_for, lanes, queue_key
from applications.domain.statuses import Status, TransitionNotAllowedError
from applications.domain.vocabulary import STATUS_LABELS, document_label, label_of

OPERATOR = Actor(user_id="op-1", role="operator")
CALENDAR, POLICY = ProductionCalendar(), DeadlinePolicy()


def stored(**fields: Any) -> dict[str, Any]:
    application: dict[str, Any] = {
        "_id": "a" * 32,
        "applicant_id": "citizen-1",
        "status": "submitted",
        "number": "2026-000001",
        "submitted_on": "2026-03-02",
        "due_date": "2026-03-10",
        **fields,
    }
    return application


def names(step: domain.Step) -> list[str]:
    return [type(e).__name__ for e in step.events]


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
    taken = domain.take(stored(), OPERATOR)
    assert taken.status is Status.IN_REVIEW
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
    now = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    step = domain.request_clarification(
        stored(status="in_review"), OPERATOR, comment="Нечитаемо", fields=["oms_policy"],
        documents=["passport"], now=now, calendar=CALENDAR, policy=POLICY,
    )  # fmt: skip
    assert step.set["due_date"] == "2026-03-17"  # 10 working days from 02.03 (09.03 off)
    assert step.set["answer_due"] == "2026-03-06"
    assert names(step) == ["ApplicationStatusChanged", "ClarificationRequested"]
    assert step.events[0].model_dump()["documents"] == ["passport"]
    # The event names what it speaks of in Russian, so no consumer keeps a copy of our words.
    assert step.events[0].model_dump()["status_label"] == "Требуется уточнение"
    assert step.events[0].model_dump()["field_labels"] == {"oms_policy": "Полис ОМС"}
    assert step.events[0].model_dump()["document_labels"] == {"passport": "Скан паспорта"}


def test_a_step_from_the_wrong_status_is_refused() -> None:
    with pytest.raises(TransitionNotAllowedError):
        domain.approve(stored(status="submitted"), OPERATOR)
    with pytest.raises(TransitionNotAllowedError):
        domain.edit(stored(status="in_review"), "")


def test_timers_fire_only_when_due_and_only_once() -> None:
    application = stored(status="clarification_requested", answer_due="2026-03-05")
    assert domain.next_timer(application) == datetime(2026, 3, 5, 21, 0, tzinfo=UTC)
    early = domain.fire_timers(application, datetime(2026, 3, 5, 20, 59, tzinfo=UTC))
    assert early.events == []
    assert early.changed is False
    due = domain.fire_timers(application, datetime(2026, 3, 5, 21, 0, tzinfo=UTC))
    assert due.status is Status.REJECTED
    assert names(due) == [
        "DeadlineBreached", "ApplicationStatusChanged", "ApplicationRejected",
    ]  # fmt: skip
    after = {**application, **due.set, "status": str(due.status)}
    assert domain.next_timer(after) is None


def test_the_review_deadline_breaches_once_and_flags_overdue() -> None:
    application = stored(status="in_review")
    late = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    step = domain.fire_timers(application, late)
    assert step.status is Status.IN_REVIEW
    assert step.set == {"overdue": True}
    assert names(step) == ["DeadlineBreached"]
    flagged = {**application, **step.set}
    assert domain.fire_timers(flagged, late).events == []
    assert domain.next_timer(flagged) is None
    assert "overdue" in domain.derived(flagged)["lanes"]


def test_a_closed_application_has_no_timer() -> None:
    for status in ("approved", "rejected", "issued", "draft"):
        assert domain.next_timer(stored(status=status)) is None
