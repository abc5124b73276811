"""Request bodies, and what the API shows of a document (response models)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from documents.domain.document import Document, Status
from emk_common.field_errors import RequestBody


class Rejection(RequestBody):
    reason: str = Field(min_length=3, max_length=1000)


class HistoryItem(BaseModel):
    status: Status
    at: datetime
    by: str
    comment: str | None


class DocumentView(BaseModel):
    """A document's metadata and history; never its content or its key."""

    id: str
    owner_id: str
    kind: str
    status: Status
    status_label: str
    size: int
    content_type: str
    sha256: str
    filename: str
    created_at: datetime
    overdue: bool
    reason: str | None
    history: list[HistoryItem]

    @classmethod
    def of(cls, document: Document, *, overdue: bool) -> DocumentView:
        return cls(
            id=document.id,
            owner_id=document.owner_id,
            kind=document.kind,
            status=document.status,
            status_label=document.status_label,
            size=document.size,
            content_type=document.content_type,
            sha256=document.sha256,
            filename=document.filename,
            created_at=document.created_at,
            overdue=overdue,
            reason=document.reason,
            history=[
                HistoryItem(status=h.status, at=h.at, by=h.by, comment=h.comment)
                for h in document.history
            ],
        )


class DocumentPage(BaseModel):
    items: list[DocumentView]
    total: int
