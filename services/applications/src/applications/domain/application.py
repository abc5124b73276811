"""What each step of an application's life changes, and the events it raises: pure
functions of the stored application, the actor and the time — no I/O.

A step returns a :class:`Step`: the fields to set, the history comment and the events.
The store writes it conditionally on the version it was computed from, so two operators
taking the same application at once cannot both win.
Dates are Moscow calendar dates, stored as ``YYYY-MM-DD``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from applications.domain.calendar import (
    DeadlinePolicy,
    ProductionCalendar,
    answer_due,
    expires_at,
    moscow_date,
    review_due,
)
from applications.domain.queue import lanes, queue_key
from applications.domain.statuses import LABELS, OPEN, Action, Status, next_status
from applications.domain.vocabulary import STATUS_LABELS, document_label, label_of
from emk_common import catalog
from emk_common.events import EventData

Application = Mapping[str, Any]

AUTO_REJECT_REASON = (
    "Ответ на запрос уточнения не получен в течение установленного срока "
    "(3 рабочих дня). Заявление отклонено автоматически."
)


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str


SYSTEM = Actor(user_id="system", role="system")


@dataclass
class Step:
    status: Status
    set: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None
    events: list[EventData] = field(default_factory=list)
    changed: bool = True  # False: nothing to record in the history (a timer with no effect)


def applicant(application: Application) -> Actor:
    """The applicant acting on their own application."""
    return Actor(user_id=application["applicant_id"], role="citizen")


def status_of(application: Application) -> Status:
    return Status(application["status"])


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _base(application: Application) -> dict[str, str]:
    return {"application_id": application["_id"], "applicant_id": application["applicant_id"]}


def _moved(
    application: Application,
    action: Action,
    actor: Actor,
    *,
    comment: str | None = None,
    fields: Sequence[str] = (),
    documents: Sequence[str] = (),
    number: str | None = None,
    book_number: str | None = None,
) -> Step:
    """A change of status, with the one event every change raises."""
    current = status_of(application)
    target = next_status(current, action)
    changed = catalog.ApplicationStatusChanged(
        **_base(application),
        number=number or application.get("number"),
        previous_status=current,
        status=target,
        changed_by=actor.user_id,
        comment=comment,
        fields=list(fields),
        documents=list(documents),
        book_number=book_number,
        status_label=STATUS_LABELS[target],
        field_labels={path: label_of(path) for path in fields},
        document_labels={kind: document_label(kind) for kind in documents},
    )
    return Step(status=target, comment=comment, events=[changed])


def edit(application: Application, description: str) -> Step:
    """The applicant changed fields or documents (a draft, or while asked to clarify)."""
    current = status_of(application)
    return Step(status=next_status(current, Action.EDIT), comment=description)


def submit(
    application: Application,
    *,
    number: str,
    now: datetime,
    calendar: ProductionCalendar,
    policy: DeadlinePolicy,
) -> Step:
    submitted_on = moscow_date(now)
    due = review_due(calendar, policy, submitted_on, clarified=False)
    step = _moved(application, Action.SUBMIT, applicant(application), number=number)
    step.set = {
        "number": number,
        "submitted_at": now,
        "submitted_on": submitted_on.isoformat(),
        "due_date": due.isoformat(),
    }
    step.events.insert(
        0, catalog.ApplicationSubmitted(**_base(application), number=number, due_date=due)
    )
    return step


def take(application: Application, operator: Actor) -> Step:
    step = _moved(application, Action.TAKE, operator)
    step.set = {"assignee_id": operator.user_id}
    return step


def request_clarification(
    application: Application,
    operator: Actor,
    *,
    comment: str,
    fields: Sequence[str],
    documents: Sequence[str],
    now: datetime,
    calendar: ProductionCalendar,
    policy: DeadlinePolicy,
) -> Step:
    step = _moved(
        application,
        Action.REQUEST_CLARIFICATION,
        operator,
        comment=comment,
        fields=fields,
        documents=documents,
    )
    submitted_on = _day(application["submitted_on"])
    assert submitted_on is not None  # an application in review was submitted
    due = review_due(calendar, policy, submitted_on, clarified=True)
    answer_by = answer_due(calendar, policy, moscow_date(now))
    step.set = {
        "clarified": True,
        "due_date": due.isoformat(),
        # A breach of the 5-day deadline is history; the 10-day one is a deadline of its own.
        "overdue": bool(application.get("overdue")) and expires_at(due) <= now,
        "answer_due": answer_by.isoformat(),
        "clarification": {
            "comment": comment,
            "fields": list(fields),
            "documents": list(documents),
            "requested_at": now,
            "requested_by": operator.user_id,
            "answer_due": answer_by.isoformat(),
        },
    }
    step.events.append(
        catalog.ClarificationRequested(
            **_base(application),
            number=application["number"],
            answer_due=answer_by,
            fields=list(fields),
            documents=list(documents),
        )
    )
    return step


def resubmit(application: Application, *, comment: str | None, now: datetime) -> Step:
    step = _moved(application, Action.RESUBMIT, applicant(application), comment=comment)
    step.set = {"answer_due": None, "answered_at": now}
    return step


def approve(application: Application, operator: Actor) -> Step:
    step = _moved(application, Action.APPROVE, operator)
    step.set = {"approved_by": operator.user_id}
    step.events.append(
        catalog.ApplicationApproved(**_base(application), number=application["number"])
    )
    return step


def issue(application: Application, *, book_id: str, book_number: str) -> Step:
    """The records service issued the book (or added this position to the person's book):
    the application is done, «Готово к выдаче», and the applicant learns the book's number."""
    comment = f"Медицинская книжка № {book_number}"
    step = _moved(application, Action.ISSUE, SYSTEM, comment=comment, book_number=book_number)
    step.set = {"book": {"id": book_id, "number": book_number}}
    return step


def reject(
    application: Application,
    actor: Actor,
    *,
    reason: str,
    fields: Sequence[str] = (),
    automatic: bool = False,
) -> Step:
    action = Action.AUTO_REJECT if automatic else Action.REJECT
    step = _moved(application, action, actor, comment=reason, fields=fields)
    step.set = {
        "answer_due": None,
        "rejection": {"reason": reason, "fields": list(fields), "automatic": automatic},
    }
    step.events.append(
        catalog.ApplicationRejected(
            **_base(application),
            number=application.get("number"),
            reason=reason,
            fields=list(fields),
            automatic=automatic,
        )
    )
    return step


def fire_timers(application: Application, now: datetime) -> Step:
    """What the scheduler does when an application's next timer is due: reject an
    unanswered clarification, and/or flag the review deadline as breached. Firing again
    finds nothing left to do, so a timer has its effect once."""
    status = status_of(application)
    step = Step(status=status, changed=False)
    answer_by = _day(application.get("answer_due"))
    if status is Status.CLARIFICATION_REQUESTED and answer_by and expires_at(answer_by) <= now:
        step = reject(application, SYSTEM, reason=AUTO_REJECT_REASON, automatic=True)
        step.events.insert(
            0,
            catalog.DeadlineBreached(
                **_base(application),
                number=application["number"],
                due_date=answer_by,
                deadline="clarification_answer",
            ),
        )
    due = _day(application.get("due_date"))
    if (
        status in OPEN
        and due is not None
        and not application.get("overdue")
        and expires_at(due) <= now
    ):
        step.set["overdue"] = True
        step.events.append(
            catalog.DeadlineBreached(
                **_base(application),
                number=application["number"],
                due_date=due,
                deadline="review",
            )
        )
        if not step.changed:
            step.changed = True
            step.comment = "Срок рассмотрения истёк"
    return step


def next_timer(application: Application) -> datetime | None:
    """The next instant the scheduler must look at this application, if any."""
    status = status_of(application)
    instants: list[datetime] = []
    answer_by = _day(application.get("answer_due"))
    if status is Status.CLARIFICATION_REQUESTED and answer_by:
        instants.append(expires_at(answer_by))
    due = _day(application.get("due_date"))
    if status in OPEN and due is not None and not application.get("overdue"):
        instants.append(expires_at(due))
    return min(instants) if instants else None


def derived(application: Application) -> dict[str, Any]:
    """The fields the lists and the scheduler index, computed from the rest."""
    status = status_of(application)
    return {
        "status_label": LABELS[status],
        "lanes": lanes(status, overdue=bool(application.get("overdue"))),
        "queue_key": queue_key(_day(application.get("due_date")), application["_id"]),
        "next_timer_at": next_timer(application),
    }
