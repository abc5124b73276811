"""The state machine: every (status, action) pair, against a table written out by hand."""

from __future__ import annotations

import itertools

import pytest

from applications.domain.statuses import (
    LABELS,
    OPEN,
    Action,
    Status,
    TransitionNotAllowedError,
    allowed_from,
    next_status,
)

# (current status, action) -> the status after it; every pair not listed is refused.
ALLOWED: dict[tuple[str, str], str] = {
    ("draft", "edit"): "draft",
    ("clarification_requested", "edit"): "clarification_requested",
    ("draft", "attach"): "draft",
    ("clarification_requested", "attach"): "clarification_requested",
    ("draft", "submit"): "submitted",
    ("submitted", "take"): "in_review",
    ("in_review", "request_clarification"): "clarification_requested",
    ("clarification_requested", "resubmit"): "in_review",
    ("in_review", "approve"): "approved",
    ("in_review", "reject"): "rejected",
    ("clarification_requested", "auto_reject"): "rejected",
    ("approved", "issue"): "issued",
}

RUSSIAN_LABELS = {
    "draft": "Черновик",
    "submitted": "Принято",
    "in_review": "В обработке",
    "clarification_requested": "Требуется уточнение",
    "approved": "Одобрено",
    "rejected": "Отклонено",
    "issued": "Готово к выдаче",
}

PAIRS = list(itertools.product(Status, Action))
ALLOWED_PAIRS = [(s, a) for s, a in PAIRS if (s.value, a.value) in ALLOWED]
REFUSED_PAIRS = [(s, a) for s, a in PAIRS if (s.value, a.value) not in ALLOWED]


def test_the_table_covers_every_status_and_action() -> None:
    assert {s.value for s in Status} == set(RUSSIAN_LABELS)
    assert len(Action) == 10
    assert len(PAIRS) == 70
    # Every allowed move in the table names real statuses and actions.
    assert len(ALLOWED_PAIRS) == len(ALLOWED) == 12


@pytest.mark.parametrize(("current", "action"), ALLOWED_PAIRS, ids=str)
def test_an_allowed_move_leads_to_its_status(current: Status, action: Action) -> None:
    assert next_status(current, action) == Status(ALLOWED[(current.value, action.value)])
    assert current in allowed_from(action)


@pytest.mark.parametrize(("current", "action"), REFUSED_PAIRS, ids=str)
def test_any_other_move_is_refused_naming_the_current_status(
    current: Status, action: Action
) -> None:
    with pytest.raises(TransitionNotAllowedError) as caught:
        next_status(current, action)
    error = caught.value
    assert error.current is current
    assert error.action is action
    assert f"Текущий статус: «{RUSSIAN_LABELS[current.value]}»." in error.message
    # The rest of the message says in Russian what the action needs.
    assert any("а" <= ch <= "я" for ch in error.message.split("Текущий статус")[0])
    assert current not in allowed_from(action)


def test_labels_are_the_russian_ones_of_the_contract() -> None:
    assert {s.value: label for s, label in LABELS.items()} == RUSSIAN_LABELS


def test_open_statuses_are_those_with_a_running_review_deadline() -> None:
    assert {s.value for s in OPEN} == {"submitted", "in_review", "clarification_requested"}


def test_finished_applications_accept_no_applicant_or_operator_action() -> None:
    for current in (Status.REJECTED, Status.ISSUED):
        for action in Action:
            with pytest.raises(TransitionNotAllowedError):
                next_status(current, action)
