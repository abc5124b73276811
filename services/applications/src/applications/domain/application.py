"""An application for a medical book: the aggregate, and what each step of its life changes
and raises — pure methods of the application, the actor and the time, no I/O. Its parts
(consent, attachments, history, who acts, the refusals) are values in ``parts.py``.

A step returns a :class:`Change`: the application after it and its events. The store writes
it conditionally on the version it was decided on, so two operators taking the same
application at once cannot both win. Dates are Moscow calendar dates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from applications.domain.calendar import (
    DeadlinePolicy,
    ProductionCalendar,
    answer_due,
    expires_at,
    moscow_date,
    review_due,
)
from applications.domain.employer import (
    DraftValues,
    Employer,
    missing_for_submission,
)
from applications.domain.parts import (
    SYSTEM,
    Actor,
    Attachment,
    Clarification,
    Consent,
    DocumentsNotVerifiedError,
    HeldByAnotherError,
    HistoryEntry,
    IssuedBook,
    Rejection,
    Summary,
)
from applications.domain.queue import lanes, queue_key
from applications.domain.statuses import OPEN, Action, Status, next_status
from applications.domain.vocabulary import (
    DOCUMENT_LABELS,
    FIELD_LABELS,
    STATUS_LABELS,
    document_label,
    label_of,
)
from emk_common import catalog
from emk_common.events import EventData
from emk_common.field_errors import FieldErrors

AUTO_REJECT_REASON = (
    "Ответ на запрос уточнения не получен в течение установленного срока "
    "(3 рабочих дня). Заявление отклонено автоматически."
)


@dataclass(frozen=True)
class Change:
    """The application after a step, with its events. ``recorded``: the step goes into the
    history (False for a timer that found nothing to do)."""

    application: Application
    events: list[EventData] = field(default_factory=list)
    recorded: bool = True


@dataclass(frozen=True)
class Application:
    id: str
    applicant_id: str
    status: Status
    created_at: datetime
    last_changed_at: datetime
    history: tuple[HistoryEntry, ...] = ()
    number: str | None = None
    employer: Employer = field(default_factory=Employer)
    oms_policy: str | None = None  # in the clear here; the store keeps it encrypted
    consent: Consent | None = None
    documents: Mapping[str, Attachment] = field(default_factory=dict)
    assignee_id: str | None = None
    submitted_at: datetime | None = None
    submitted_on: date | None = None
    due_date: date | None = None
    overdue: bool = False
    clarified: bool = False
    answer_due: date | None = None
    answered_at: datetime | None = None
    clarification: Clarification | None = None
    rejection: Rejection | None = None
    approved_by: str | None = None
    book: IssuedBook | None = None
    version: int = 0  # the stored version this was read at (0: not stored yet)

    # --- what it is -------------------------------------------------------------------------

    @property
    def applicant(self) -> Actor:
        """The applicant acting on their own application."""
        return Actor(user_id=self.applicant_id, role="citizen")

    @property
    def lanes(self) -> list[str]:
        return lanes(self.status, overdue=self.overdue)

    @property
    def queue_key(self) -> str:
        return queue_key(self.due_date, self.id)

    def summary(self) -> Summary:
        return Summary(
            id=self.id, applicant_id=self.applicant_id, status=self.status, number=self.number,
            employer_name=self.employer.name, due_date=self.due_date, overdue=self.overdue,
            assignee_id=self.assignee_id, submitted_at=self.submitted_at,
            created_at=self.created_at, last_changed_at=self.last_changed_at,
        )  # fmt: skip

    def next_timer(self) -> datetime | None:
        """The next instant the scheduler must look at this application, if any."""
        instants: list[datetime] = []
        if self.status is Status.CLARIFICATION_REQUESTED and self.answer_due:
            instants.append(expires_at(self.answer_due))
        if self.status in OPEN and self.due_date is not None and not self.overdue:
            instants.append(expires_at(self.due_date))
        return min(instants) if instants else None

    def refuse_unless(self, action: Action) -> None:
        """:class:`TransitionNotAllowedError` for a step the status does not allow, before
        any other check."""
        next_status(self.status, action)

    def require_assignee(self, operator: Actor) -> None:
        if self.assignee_id is not None and self.assignee_id != operator.user_id:
            raise HeldByAnotherError(self.status)

    def check_complete(self, rejected_kinds: Sequence[str], errors: FieldErrors) -> None:
        """Adds what submission still lacks: required fields, documents, and any attached
        document the documents service rejected."""
        missing_for_submission(
            self.employer, oms_policy=self.oms_policy, consented=self.consent is not None,
            attached=self.documents, errors=errors,
        )  # fmt: skip
        for kind in rejected_kinds:
            errors.add_sentence(
                f"documents.{kind}",
                "rejected",
                f"{DOCUMENT_LABELS[kind]}: документ отклонён при проверке, "
                "загрузите новый и прикрепите его.",
            )

    # --- the applicant ----------------------------------------------------------------------

    @classmethod
    def draft(
        cls,
        application_id: str,
        applicant_id: str,
        values: DraftValues,
        *,
        now: datetime,
        consent_version: str,
    ) -> tuple[Application, list[EventData]]:
        citizen = Actor(user_id=applicant_id, role="citizen")
        application = cls(
            id=application_id, applicant_id=applicant_id, status=Status.DRAFT,
            created_at=now, last_changed_at=now,
            history=(HistoryEntry(Status.DRAFT, now, citizen.user_id, citizen.role,
                                  "Черновик создан"),),
        )  # fmt: skip
        application = application._with_values(values, now, consent_version)
        drafted = catalog.ApplicationDrafted(
            application_id=application_id, applicant_id=applicant_id
        )
        return application, [drafted]

    def edit(self, values: DraftValues, *, now: datetime, consent_version: str) -> Change:
        """The applicant changed fields (a draft, or while asked to clarify)."""
        labels = ", ".join(FIELD_LABELS.get(p, p) for p in values.changed_paths()) or "—"
        after = self._recorded(
            next_status(self.status, Action.EDIT), self.applicant, now,
            "Изменены данные: " + labels,
        )  # fmt: skip
        return Change(after._with_values(values, now, consent_version))

    def attach(self, kind: str, document_id: str, *, now: datetime) -> Change:
        after = self._recorded(
            next_status(self.status, Action.ATTACH), self.applicant, now,
            f"Прикреплён документ: {DOCUMENT_LABELS[kind]}",
            documents={**self.documents, kind: Attachment(document_id, now)},
        )  # fmt: skip
        return Change(after)

    def submit(
        self, *, number: str, now: datetime, calendar: ProductionCalendar, policy: DeadlinePolicy
    ) -> Change:
        submitted_on = moscow_date(now)
        due = review_due(calendar, policy, submitted_on, clarified=False)
        change = self._moved(
            Action.SUBMIT, self.applicant, now, number=number,
            submitted_at=now, submitted_on=submitted_on, due_date=due,
        )  # fmt: skip
        change.events.insert(
            0, catalog.ApplicationSubmitted(**self._base(), number=number, due_date=due)
        )
        return change

    def resubmit(self, *, comment: str | None, now: datetime) -> Change:
        return self._moved(
            Action.RESUBMIT, self.applicant, now, comment=comment, answer_due=None, answered_at=now
        )

    # --- the operator -----------------------------------------------------------------------

    def take(self, operator: Actor, *, now: datetime) -> Change:
        return self._moved(Action.TAKE, operator, now, assignee_id=operator.user_id)

    def request_clarification(
        self,
        operator: Actor,
        *,
        comment: str,
        fields: Sequence[str],
        documents: Sequence[str],
        now: datetime,
        calendar: ProductionCalendar,
        policy: DeadlinePolicy,
    ) -> Change:
        next_status(self.status, Action.REQUEST_CLARIFICATION)
        assert self.submitted_on is not None  # an application in review was submitted
        due = review_due(calendar, policy, self.submitted_on, clarified=True)
        answer_by = answer_due(calendar, policy, moscow_date(now))
        change = self._moved(
            Action.REQUEST_CLARIFICATION, operator, now, comment=comment, fields=fields,
            documents=documents, clarified=True, due_date=due,
            # A breach of the 5-day deadline is history; the 10-day one is a deadline of its own.
            overdue=self.overdue and expires_at(due) <= now,
            answer_due=answer_by,
            clarification=Clarification(
                comment=comment, fields=tuple(fields), documents=tuple(documents),
                requested_at=now, requested_by=operator.user_id, answer_due=answer_by,
            ),
        )  # fmt: skip
        change.events.append(
            catalog.ClarificationRequested(
                **self._base(),
                number=self.number or "",
                answer_due=answer_by,
                fields=list(fields),
                documents=list(documents),
            )
        )
        return change

    def approve(self, operator: Actor, *, now: datetime, unverified: Sequence[str]) -> Change:
        change = self._moved(Action.APPROVE, operator, now, approved_by=operator.user_id)
        if unverified:
            raise DocumentsNotVerifiedError(unverified)
        change.events.append(catalog.ApplicationApproved(**self._base(), number=self.number or ""))
        return change

    def reject(
        self,
        actor: Actor,
        *,
        reason: str,
        now: datetime,
        fields: Sequence[str] = (),
        automatic: bool = False,
    ) -> Change:
        action = Action.AUTO_REJECT if automatic else Action.REJECT
        change = self._moved(
            action, actor, now, comment=reason, fields=fields, answer_due=None,
            rejection=Rejection(reason=reason, fields=tuple(fields), automatic=automatic),
        )  # fmt: skip
        change.events.append(
            catalog.ApplicationRejectedV2(
                **self._base(),
                # The rejection's own entry, where its reason is kept (never on the topic).
                seq=len(change.application.history) - 1,
                number=self.number,
                has_reason=_has_text(reason),
                fields=list(fields),
                automatic=automatic,
            )
        )
        return change

    # --- the records service and the scheduler ------------------------------------------------

    def issue(self, *, book_id: str, book_number: str, now: datetime) -> Change:
        """The records service issued the book (or added this position to the person's book):
        the application is done, «Готово к выдаче», and the applicant learns the book's number."""
        return self._moved(
            Action.ISSUE, SYSTEM, now, comment=f"Медицинская книжка № {book_number}",
            book_number=book_number, book=IssuedBook(book_id, book_number),
        )  # fmt: skip

    def fire_timers(self, now: datetime) -> Change:
        """What the scheduler does when the next timer is due: reject an unanswered
        clarification, and/or flag the review deadline as breached. Firing again finds
        nothing left to do, so a timer has its effect once."""
        change = Change(self, recorded=False)
        if (
            self.status is Status.CLARIFICATION_REQUESTED
            and self.answer_due
            and expires_at(self.answer_due) <= now
        ):
            change = self.reject(SYSTEM, reason=AUTO_REJECT_REASON, now=now, automatic=True)
            change.events.insert(
                0,
                catalog.DeadlineBreached(
                    **self._base(),
                    number=self.number or "",
                    due_date=self.answer_due,
                    deadline="clarification_answer",
                ),
            )
        due = self.due_date
        if self.status in OPEN and due is not None and not self.overdue and expires_at(due) <= now:
            after = dataclasses.replace(change.application, overdue=True)
            if not change.recorded:
                after = after._recorded(after.status, SYSTEM, now, "Срок рассмотрения истёк")
            events = [
                *change.events,
                catalog.DeadlineBreached(
                    **self._base(), number=self.number or "", due_date=due, deadline="review"
                ),
            ]
            change = Change(after, events)
        return change

    # --- helpers ----------------------------------------------------------------------------

    def _base(self) -> dict[str, str]:
        return {"application_id": self.id, "applicant_id": self.applicant_id}

    def _recorded(
        self, status: Status, actor: Actor, now: datetime, comment: str | None, **changes: object
    ) -> Application:
        entry = HistoryEntry(status, now, actor.user_id, actor.role, comment)
        return dataclasses.replace(
            self,
            status=status,
            last_changed_at=now,
            history=(*self.history, entry),
            **changes,  # type: ignore[arg-type]
        )

    def _moved(
        self,
        action: Action,
        actor: Actor,
        now: datetime,
        *,
        comment: str | None = None,
        fields: Sequence[str] = (),
        documents: Sequence[str] = (),
        book_number: str | None = None,
        **changes: object,
    ) -> Change:
        """A change of status, with the one event every change raises. The comment stays in
        the history entry the change adds (``seq``); the event only says there is one."""
        target = next_status(self.status, action)
        number = changes.get("number", self.number)
        changed = catalog.ApplicationStatusChangedV2(
            **self._base(),
            seq=len(self.history),
            number=number if isinstance(number, str) else None,
            previous_status=self.status,
            status=target,
            changed_by=actor.user_id,
            has_comment=_has_text(comment),
            fields=list(fields),
            documents=list(documents),
            book_number=book_number,
            status_label=STATUS_LABELS[target],
            field_labels={path: label_of(path) for path in fields},
            document_labels={kind: document_label(kind) for kind in documents},
        )
        return Change(self._recorded(target, actor, now, comment, **changes), [changed])

    def _with_values(self, values: DraftValues, now: datetime, consent_version: str) -> Application:
        changes: dict[str, object] = {}
        if values.employer is not None:
            changes["employer"] = self.employer.updated(values.employer)
        if values.oms_policy:
            changes["oms_policy"] = values.oms_policy
        if values.consent_personal_data is not None:
            changes["consent"] = (
                Consent(given_at=now, text_version=consent_version)
                if values.consent_personal_data
                else None
            )
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _has_text(text: str | None) -> bool:
    return bool(text and text.strip())


__all__ = ["AUTO_REJECT_REASON", "Application", "Change"]
