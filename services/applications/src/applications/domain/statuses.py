"""The application's life: statuses, their Russian labels, and which action may start where.

``draft`` → ``submitted`` → ``in_review`` → ``approved`` / ``rejected`` → ``issued``; from
``in_review`` an operator may ask for a clarification, and the applicant's answer returns
the application to ``in_review``. Every other move is refused (409 at the API).
"""

from __future__ import annotations

from enum import StrEnum

from applications.domain.vocabulary import STATUS_LABELS


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    CLARIFICATION_REQUESTED = "clarification_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    ISSUED = "issued"


LABELS: dict[Status, str] = {s: STATUS_LABELS[s] for s in Status}

# Statuses whose review deadline still runs: they are in the operators' queue.
OPEN: frozenset[Status] = frozenset(
    {Status.SUBMITTED, Status.IN_REVIEW, Status.CLARIFICATION_REQUESTED}
)


class Action(StrEnum):
    EDIT = "edit"  # change the employer block, the ОМС policy, the consent
    ATTACH = "attach"  # attach one of the applicant's documents
    SUBMIT = "submit"
    TAKE = "take"
    REQUEST_CLARIFICATION = "request_clarification"
    RESUBMIT = "resubmit"
    APPROVE = "approve"
    REJECT = "reject"
    AUTO_REJECT = "auto_reject"  # the clarification went unanswered
    ISSUE = "issue"  # the book is issued (records)


# action → (the statuses it may start from, the status it leads to; None keeps the status)
_MOVES: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.EDIT: (frozenset({Status.DRAFT, Status.CLARIFICATION_REQUESTED}), None),
    Action.ATTACH: (frozenset({Status.DRAFT, Status.CLARIFICATION_REQUESTED}), None),
    Action.SUBMIT: (frozenset({Status.DRAFT}), Status.SUBMITTED),
    Action.TAKE: (frozenset({Status.SUBMITTED}), Status.IN_REVIEW),
    Action.REQUEST_CLARIFICATION: (
        frozenset({Status.IN_REVIEW}),
        Status.CLARIFICATION_REQUESTED,
    ),
    Action.RESUBMIT: (frozenset({Status.CLARIFICATION_REQUESTED}), Status.IN_REVIEW),
    Action.APPROVE: (frozenset({Status.IN_REVIEW}), Status.APPROVED),
    Action.REJECT: (frozenset({Status.IN_REVIEW}), Status.REJECTED),
    Action.AUTO_REJECT: (frozenset({Status.CLARIFICATION_REQUESTED}), Status.REJECTED),
    Action.ISSUE: (frozenset({Status.APPROVED}), Status.ISSUED),
}

# What a person is told when an action does not fit the current status.
_REFUSALS: dict[Action, str] = {
    Action.EDIT: "Изменить можно только черновик или заявление, по которому запрошено уточнение.",
    Action.ATTACH: (
        "Прикрепить документ можно только к черновику или к заявлению, "
        "по которому запрошено уточнение."
    ),
    Action.SUBMIT: "Подать можно только черновик.",
    Action.TAKE: "Взять в работу можно только принятое заявление, которое ещё никто не взял.",
    Action.REQUEST_CLARIFICATION: "Запросить уточнение можно только по заявлению в обработке.",
    Action.RESUBMIT: "Отправить ответ можно только на запрос уточнения.",
    Action.APPROVE: "Одобрить можно только заявление в обработке.",
    Action.REJECT: "Отклонить можно только заявление в обработке.",
    Action.AUTO_REJECT: "Заявление уже не ждёт ответа на запрос уточнения.",
    Action.ISSUE: "Выдать книжку можно только по одобренному заявлению.",
}


class TransitionNotAllowedError(Exception):
    """The action does not fit the current status (the API answers 409)."""

    def __init__(self, current: Status, action: Action) -> None:
        super().__init__(f"{action} is not allowed from {current}")
        self.current = current
        self.action = action
        self.message = f"{_REFUSALS[action]} Текущий статус: «{LABELS[current]}»."


def allowed_from(action: Action) -> frozenset[Status]:
    """The statuses the action may start from (a store makes its update conditional on them)."""
    return _MOVES[action][0]


def next_status(current: Status, action: Action) -> Status:
    """The status after ``action``, or :class:`TransitionNotAllowedError`."""
    sources, target = _MOVES[action]
    if current not in sources:
        raise TransitionNotAllowedError(current, action)
    return target if target is not None else current
