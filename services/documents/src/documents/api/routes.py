"""HTTP routes of the documents service (prefix ``/api/v1/documents``). Thin: each asks the
use cases (``service.py``) and renders the answer (``api/schemas.py``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from documents.api.deps import Citizen, DocumentsDep, Operator
from documents.api.schemas import DocumentPage, DocumentView, Rejection
from documents.api.upload import read_upload
from documents.domain.document import Document, Status
from documents.domain.inspection import MAX_BYTES
from documents.service import Documents
from emk_common.auth import AccessReason, CurrentPrincipal

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])


@router.post("", status_code=201)
async def upload(request: Request, who: Citizen, documents: DocumentsDep) -> DocumentView:
    """Multipart ``file`` + ``kind``; read by us up to 5 MB + 1 byte, never buffered whole.
    The role is checked before a byte of the body is read."""
    received = await read_upload(request, limit=MAX_BYTES)
    document = await documents.upload(
        who, received.fields.get("kind", ""), received.filename, received.data
    )
    return _view(documents, document)


@router.get("")
async def list_documents(
    who: CurrentPrincipal,
    documents: DocumentsDep,
    status: Status | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentPage:
    page = await documents.list(who, status=status, overdue=overdue, limit=limit, offset=offset)
    return DocumentPage(items=[_view(documents, d) for d in page.items], total=page.total)


@router.get("/{document_id}")
async def metadata(
    document_id: str, who: CurrentPrincipal, documents: DocumentsDep, reason: AccessReason
) -> DocumentView:
    return _view(documents, await documents.metadata(who, document_id, reason))


@router.get("/{document_id}/content")
async def content(
    document_id: str, who: CurrentPrincipal, documents: DocumentsDep, reason: AccessReason
) -> Response:
    download = await documents.read_content(who, document_id, reason)
    document = download.document
    return StreamingResponse(
        download.chunks,
        media_type=document.content_type,
        headers={
            "Content-Length": str(document.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(document.filename)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/{document_id}/verify")
async def verify(document_id: str, who: Operator, documents: DocumentsDep) -> DocumentView:
    return _view(documents, await documents.decide(who, document_id, "verified", None))


@router.post("/{document_id}/reject")
async def reject(
    document_id: str, body: Rejection, who: Operator, documents: DocumentsDep
) -> DocumentView:
    return _view(documents, await documents.decide(who, document_id, "rejected", body.reason))


def _view(documents: Documents, document: Document) -> DocumentView:
    return DocumentView.of(document, overdue=documents.overdue(document))


def _quote(name: str) -> str:
    return quote(name, safe="")
