"""A document: one uploaded scan of a citizen's, and its review by an operator.

Pure: each decision returns the document as it is after it and the event to publish; the
store writes both in one write, conditional on the state the decision was taken on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, cast, get_args

from emk_common import catalog
from emk_common.events import EventData
from emk_common.field_errors import FieldErrors, InvalidFieldsError

Kind = catalog.DocumentKind  # the contract's list
KINDS: tuple[str, ...] = get_args(Kind)
Status = Literal["pending_review", "verified", "rejected"]
Decision = Literal["verified", "rejected"]
STATUS_LABELS: dict[Status, str] = {
    "pending_review": "На проверке",
    "verified": "Подтверждён",
    "rejected": "Отклонён",
}


class AlreadyDecidedError(Exception):
    """A document is decided once: a second decision is refused (409)."""

    def __init__(self, status: Status) -> None:
        super().__init__(f"the document is {status} already")
        self.status = status


@dataclass(frozen=True)
class HistoryEntry:
    status: Status
    at: datetime
    by: str
    comment: str | None


@dataclass(frozen=True)
class Document:
    id: str
    owner_id: str
    kind: Kind
    status: Status
    size: int
    content_type: str
    sha256: str
    # Reduced to a safe base name with the extension of its real type.
    filename: str
    pages: int | None
    width: int | None
    height: int | None
    # The object's own data key, wrapped by the master keyring: what opens its bytes.
    data_key: str
    created_at: datetime
    history: tuple[HistoryEntry, ...]
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    def overdue(self, now: datetime, review_time: timedelta) -> bool:
        """Waiting for an operator longer than the review time (DOMAIN.md: 24 hours)."""
        return self.status == "pending_review" and self.created_at < now - review_time


def checked_kind(kind: str) -> Kind:
    """The kind a citizen named, if it is one we know."""
    if kind in KINDS:
        return cast(Kind, kind)
    errors = FieldErrors()
    if not kind:
        errors.add_sentence("kind", "missing", "Укажите вид документа.")
    else:
        allowed = ", ".join(KINDS)
        errors.add_sentence("kind", "choice", f"Вид документа: допустимые значения — {allowed}.")
    raise InvalidFieldsError(errors.items)


@dataclass(frozen=True)
class Scan:
    """What the checks found out about an upload's bytes."""

    size: int
    content_type: str
    sha256: str
    filename: str
    pages: int | None
    width: int | None
    height: int | None


def upload(
    document_id: str, owner_id: str, kind: Kind, scan: Scan, data_key: str, now: datetime
) -> tuple[Document, catalog.DocumentUploaded]:
    """A new document waiting for review, and the event that says so (never its content)."""
    document = Document(
        id=document_id,
        owner_id=owner_id,
        kind=kind,
        status="pending_review",
        size=scan.size,
        content_type=scan.content_type,
        sha256=scan.sha256,
        filename=scan.filename,
        pages=scan.pages,
        width=scan.width,
        height=scan.height,
        data_key=data_key,
        created_at=now,
        history=(HistoryEntry("pending_review", now, owner_id, None),),
    )
    event = catalog.DocumentUploaded(
        document_id=document_id,
        owner_id=owner_id,
        kind=kind,
        size=scan.size,
        content_type=scan.content_type,
        sha256=scan.sha256,
    )
    return document, event


def decide(
    document: Document, by: str, decision: Decision, reason: str | None, now: datetime
) -> tuple[Document, EventData]:
    """An operator verifies or rejects a document waiting for review; once."""
    if document.status != "pending_review":
        raise AlreadyDecidedError(document.status)
    decided = replace(
        document,
        status=decision,
        decided_at=now,
        decided_by=by,
        reason=reason,
        history=(*document.history, HistoryEntry(decision, now, by, reason)),
    )
    event: EventData
    if decision == "verified":
        event = catalog.DocumentVerified(
            document_id=document.id, owner_id=document.owner_id, verified_by=by
        )
    else:
        # The reason is the operator's own words: it stays with the document, and the event
        # only says there is one (documents' internal API gives it to whom may read it).
        event = catalog.DocumentRejectedV2(
            document_id=document.id,
            owner_id=document.owner_id,
            rejected_by=by,
            has_reason=bool(reason and reason.strip()),
        )
    return decided, event
