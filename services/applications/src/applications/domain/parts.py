"""What an application is made of besides its status, as frozen values: who acts, the
consent, an attached document, a clarification asked, a rejection, the issued book, an entry
of the history; the row a list shows; the refusals a step raises; and the check of the field
paths and document kinds an operator names. The aggregate itself is in ``application.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from applications.domain.queue import queue_key
from applications.domain.statuses import Status
from applications.domain.vocabulary import DOCUMENT_LABELS, FIELD_LABELS, STATUS_LABELS
from emk_common.field_errors import FieldErrors


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str


SYSTEM = Actor(user_id="system", role="system")


class HeldByAnotherError(Exception):
    """Another operator has taken the application (the API answers 409)."""

    def __init__(self, status: Status) -> None:
        super().__init__("held by another operator")
        self.status = status


class DocumentsNotVerifiedError(Exception):
    """Approval waits for every attached document to be verified (409)."""

    def __init__(self, kinds: Sequence[str]) -> None:
        super().__init__(f"not verified: {', '.join(kinds)}")
        self.kinds = list(kinds)


@dataclass(frozen=True)
class Consent:
    given_at: datetime
    text_version: str


@dataclass(frozen=True)
class Attachment:
    document_id: str
    attached_at: datetime


@dataclass(frozen=True)
class Clarification:
    comment: str
    fields: tuple[str, ...]
    documents: tuple[str, ...]
    requested_at: datetime
    requested_by: str
    answer_due: date


@dataclass(frozen=True)
class Rejection:
    reason: str
    fields: tuple[str, ...]
    automatic: bool


@dataclass(frozen=True)
class IssuedBook:
    id: str
    number: str


@dataclass(frozen=True)
class HistoryEntry:
    status: Status
    at: datetime
    by: str
    by_role: str
    comment: str | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class Summary:
    """What the lists show of an application: no personal data, no employer but its name."""

    id: str
    applicant_id: str
    status: Status
    number: str | None
    employer_name: str | None
    due_date: date | None
    overdue: bool
    assignee_id: str | None
    submitted_at: datetime | None
    created_at: datetime
    last_changed_at: datetime

    @property
    def queue_key(self) -> str:
        return queue_key(self.due_date, self.id)


def reject_unknown_paths(
    errors: FieldErrors, fields: Sequence[str], documents: Sequence[str] = (), *, rejection: bool
) -> None:
    """An operator names what is wrong by its field paths and document kinds; a rejection
    may name a document as a field (``documents.passport``)."""
    known = set(FIELD_LABELS)
    if rejection:
        known |= {f"documents.{d}" for d in DOCUMENT_LABELS}
    for i, path in enumerate(fields):
        if path not in known:
            errors.add_sentence(f"fields.{i}", "choice", f"Неизвестное поле заявления: «{path}».")
    for i, kind in enumerate(documents):
        if kind not in DOCUMENT_LABELS:
            errors.add_sentence(f"documents.{i}", "choice", f"Неизвестный вид документа: «{kind}».")
