"""The operator's use cases on fakes of the ports and of the store: taking an application
(two at once), asking for a clarification and the applicant's answer, approving, rejecting;
and the book the records service issued on it."""

from __future__ import annotations

from datetime import date

import pytest

from applications.domain.parts import Actor, Clarification, IssuedBook, Rejection
from applications.domain.statuses import Status
from emk_common import catalog
from emk_common.field_errors import InvalidFieldsError
from emk_common.kafka import DeadLetter
from emk_common.problems import Problem

from .fakes import START, Rig, draft, rig
from .steps import (
    CITIZEN,
    NO_SESSION,
    OPERATOR,
    OTHER_OPERATOR,
    clarifying,
    complete,
    in_review,
    review,
    state,
    submitted,
    wrong,
)


@pytest.fixture
def s() -> Rig:
    return rig()


# --- the operator -----------------------------------------------------------------------------


async def test_an_operator_takes_a_submitted_application(s: Rig) -> None:
    application = await submitted(s)
    s.clock.advance(hours=2)
    taken = await s.applications.take(OPERATOR, application.id)
    assert (taken.status, taken.assignee_id) == (Status.IN_REVIEW, "operator-1")
    assert (taken.history[-1].by, taken.history[-1].by_role) == ("operator-1", "operator")
    changed = s.store.events[-1]
    assert isinstance(changed, catalog.ApplicationStatusChangedV2)
    assert (changed.status, changed.changed_by) == ("in_review", "operator-1")


async def test_a_draft_does_not_exist_for_an_operator(s: Rig) -> None:
    application = await complete(s)
    for use_case in (s.applications.take, s.applications.approve):
        with pytest.raises(Problem) as caught:
            await use_case(OPERATOR, application.id)
        assert caught.value.status == 404
    with pytest.raises(Problem) as unknown:
        await s.applications.take(OPERATOR, "f" * 32)
    assert unknown.value.status == 404


async def test_of_two_operators_taking_at_once_the_second_is_told_it_is_taken(s: Rig) -> None:
    application = await submitted(s)
    theirs = application.take(Actor("operator-2", "operator"), now=s.clock()).application
    s.store.racing.append(theirs)
    with pytest.raises(Problem) as caught:
        await s.applications.take(OPERATOR, application.id)
    assert state(caught) == (409, "in_review")
    assert s.store.applications[application.id].assignee_id == "operator-2"


async def test_a_decision_that_keeps_losing_the_race_gives_up(s: Rig) -> None:
    application = await submitted(s)
    s.store.racing.extend([application] * 5)  # someone keeps rewriting it as it was
    with pytest.raises(Problem) as caught:
        await s.applications.take(OPERATOR, application.id)
    assert caught.value.status == 409
    assert caught.value.detail == "Заявление сейчас изменяется другим действием. Повторите попытку."
    assert s.store.applications[application.id].status is Status.SUBMITTED


async def test_the_operator_asks_for_a_clarification(s: Rig) -> None:
    application = await clarifying(s)
    assert application.status is Status.CLARIFICATION_REQUESTED
    # Three working days to answer, counted from Tuesday; the review now has ten.
    assert (application.answer_due, application.due_date, application.clarified) == (
        date(2026, 3, 6),
        date(2026, 3, 17),
        True,
    )
    assert application.clarification == Clarification(
        comment="Нечитаемый скан", fields=("employer.inn",), documents=("passport",),
        requested_at=s.clock(), requested_by="operator-1", answer_due=date(2026, 3, 6),
    )  # fmt: skip
    changed, requested = s.store.events[-2:]
    assert isinstance(changed, catalog.ApplicationStatusChangedV2)
    assert application.history[changed.seq].comment == "Нечитаемый скан"
    assert "Нечитаемый скан" not in changed.model_dump_json()
    assert (changed.has_comment, changed.field_labels, changed.document_labels) == (
        True,
        {"employer.inn": "ИНН работодателя"},
        {"passport": "Скан паспорта"},
    )
    assert isinstance(requested, catalog.ClarificationRequested)
    assert (requested.answer_due, requested.fields, requested.documents) == (
        date(2026, 3, 6),
        ["employer.inn"],
        ["passport"],
    )


async def test_unknown_paths_in_a_clarification_are_refused_before_anything_is_read(
    s: Rig,
) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.request_clarification(
            OPERATOR, "no-such-application", "?", ["employer.colour"], ["selfie"]
        )
    assert wrong(caught) == [("fields.0", "choice"), ("documents.0", "choice")]


async def test_only_the_assignee_decides_on_an_application_in_review(s: Rig) -> None:
    application = await in_review(s)
    await review(s, application, "verified")
    before = s.store.snapshot()
    decisions = [
        s.applications.request_clarification(OTHER_OPERATOR, application.id, "?", [], []),
        s.applications.approve(OTHER_OPERATOR, application.id),
        s.applications.reject(OTHER_OPERATOR, application.id, "Нет", []),
    ]
    for decision in decisions:
        with pytest.raises(Problem) as caught:
            await decision
        assert state(caught) == (409, "in_review")
        assert caught.value.detail == "Заявление в работе у другого оператора."
    assert s.store.snapshot() == before


async def test_an_application_not_taken_is_neither_clarified_approved_nor_rejected(
    s: Rig,
) -> None:
    application = await submitted(s)
    before = s.store.snapshot()
    decisions = [
        s.applications.request_clarification(OPERATOR, application.id, "?", [], []),
        s.applications.approve(OPERATOR, application.id),
        s.applications.reject(OPERATOR, application.id, "Нет", []),
    ]
    for decision in decisions:
        with pytest.raises(Problem) as caught:
            await decision
        assert state(caught) == (409, "submitted")
    assert s.store.snapshot() == before


async def test_the_applicant_answers_a_clarification(s: Rig) -> None:
    application = await clarifying(s)
    s.clock.advance(hours=3)
    edited = await s.applications.edit(CITIZEN, application.id, draft(oms_policy=None))
    assert edited.status is Status.CLARIFICATION_REQUESTED
    answered = await s.applications.resubmit(CITIZEN, application.id, "Исправил ИНН")
    assert answered.status is Status.IN_REVIEW
    assert (answered.answered_at, answered.answer_due) == (s.clock(), None)
    assert answered.due_date == date(2026, 3, 17)  # the ten days keep running
    changed = s.store.events[-1]
    assert isinstance(changed, catalog.ApplicationStatusChangedV2)
    assert (changed.previous_status, changed.status, changed.has_comment) == (
        "clarification_requested",
        "in_review",
        True,
    )
    assert answered.history[changed.seq].comment == "Исправил ИНН"


async def test_only_a_clarification_is_answered_and_only_complete(s: Rig) -> None:
    application = await in_review(s)
    with pytest.raises(Problem) as not_asked:
        await s.applications.resubmit(CITIZEN, application.id, None)
    assert state(not_asked) == (409, "in_review")
    s.clock.advance(days=1)
    await s.applications.request_clarification(OPERATOR, application.id, "?", [], ["passport"])
    await review(s, application, "rejected")
    before = s.store.snapshot()
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.resubmit(CITIZEN, application.id, None)
    assert ("documents.passport", "rejected") in wrong(caught)
    assert s.store.snapshot() == before


async def test_the_assignee_approves_when_every_document_is_verified(s: Rig) -> None:
    application = await in_review(s)
    await review(s, application, "verified")
    approved = await s.applications.approve(OPERATOR, application.id)
    assert (approved.status, approved.approved_by) == (Status.APPROVED, "operator-1")
    assert approved.lanes == ["status:approved"]
    changed, event = s.store.events[-2:]
    assert isinstance(changed, catalog.ApplicationStatusChangedV2)
    assert (changed.status, changed.has_comment) == ("approved", False)
    assert isinstance(event, catalog.ApplicationApproved)
    assert event.number == "2026-000001"


async def test_approval_waits_for_every_document_to_be_verified(s: Rig) -> None:
    application = await in_review(s)
    passport = application.documents["passport"].document_id
    await s.applications.document_reviewed(passport, "citizen-1", "verified", START, NO_SESSION)
    before = s.store.snapshot()
    with pytest.raises(Problem) as caught:
        await s.applications.approve(OPERATOR, application.id)
    assert state(caught) == (409, "documents_not_verified")
    assert caught.value.detail == (
        "Одобрить можно, только когда все прикреплённые документы подтверждены. "
        "Не подтверждены: Скан полиса ОМС."
    )
    assert s.store.snapshot() == before


async def test_the_assignee_rejects_naming_what_is_wrong(s: Rig) -> None:
    application = await in_review(s)
    fields = ["employer.inn", "documents.passport"]
    rejected = await s.applications.reject(OPERATOR, application.id, "Чужой паспорт", fields)
    assert rejected.status is Status.REJECTED
    assert rejected.rejection == Rejection("Чужой паспорт", tuple(fields), automatic=False)
    changed, event = s.store.events[-2:]
    assert isinstance(changed, catalog.ApplicationStatusChangedV2)
    assert (changed.status, changed.fields) == ("rejected", fields)
    assert isinstance(event, catalog.ApplicationRejectedV2)
    assert (event.has_reason, event.fields, event.automatic) == (True, fields, False)
    assert event.seq == changed.seq == len(rejected.history) - 1
    assert rejected.history[event.seq].comment == "Чужой паспорт"
    assert "Чужой паспорт" not in event.model_dump_json() + changed.model_dump_json()


async def test_a_rejection_names_only_known_paths(s: Rig) -> None:
    application = await in_review(s)
    before = s.store.snapshot()
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.reject(OPERATOR, application.id, "Нет", ["oms_policy", "documents.x"])
    assert wrong(caught) == [("fields.1", "choice")]
    assert s.store.snapshot() == before


# --- the records service ----------------------------------------------------------------------


async def test_an_issued_book_makes_the_application_ready_once(s: Rig) -> None:
    application = await in_review(s)
    await review(s, application, "verified")
    await s.applications.approve(OPERATOR, application.id)
    await s.applications.issue(application.id, "book-1", "77-000001")
    issued = s.store.applications[application.id]
    assert (issued.status, issued.book) == (Status.ISSUED, IssuedBook("book-1", "77-000001"))
    changed = s.store.events[-1]
    assert isinstance(changed, catalog.ApplicationStatusChangedV2)
    assert (changed.status, changed.book_number, changed.changed_by) == (
        "issued",
        "77-000001",
        "system",
    )
    written = len(s.store.events)
    await s.applications.issue(application.id, "book-1", "77-000001")  # a redelivery
    assert len(s.store.events) == written
    employment = await s.applications.employment(application.id)
    assert employment.employer.position == "Повар"


async def test_a_book_for_an_unknown_application_is_a_dead_letter(s: Rig) -> None:
    with pytest.raises(DeadLetter):
        await s.applications.issue("f" * 32, "book-1", "77-000001")
