"""HTTP routes of the documents service (prefix ``/api/v1/documents``). Thin: each asks the
use cases (``service.py``) and renders the answer (``api/schemas.py``)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from documents.api.deps import Citizen, DocumentsDep, Operator
from documents.api.schemas import DocumentPage, DocumentView, Rejection
from documents.api.upload import read_upload
from documents.domain.document import KINDS, Document, Status
from documents.domain.inspection import MAX_BYTES, FileType
from documents.service import Documents
from emk_common.auth import AccessReason, CurrentPrincipal
from emk_common.problems import problem_responses

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])

# Deeper than any list is read page by page, and within the 64 bits MongoDB's skip takes: a
# larger offset is a 422 naming ``offset``, not a 500.
MAX_OFFSET = 1_000_000

# The upload reads its body itself (api/upload.py), so FastAPI cannot describe it: said here.
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, JPEG или PNG (по содержимому), не более 5 МБ.",
                        },
                        "kind": {"type": "string", "enum": list(KINDS)},
                    },
                }
            }
        },
    }
}
_BYTES = {"schema": {"type": "string", "format": "binary"}}
_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"description": "Файл", "content": {t.value: _BYTES for t in FileType}}
}


@router.post("", status_code=201, openapi_extra=_UPLOAD_BODY, responses=problem_responses(403))
async def upload(request: Request, who: Citizen, documents: DocumentsDep) -> DocumentView:
    """Multipart ``file`` + ``kind``; read by us up to 5 MB + 1 byte, never buffered whole.
    The role is checked before a byte of the body is read."""
    received = await read_upload(request, limit=MAX_BYTES)
    document = await documents.upload(
        who, received.fields.get("kind", ""), received.filename, received.data
    )
    return _view(documents, document)


@router.get("", responses=problem_responses(403))
async def list_documents(
    who: CurrentPrincipal,
    documents: DocumentsDep,
    reason: AccessReason,
    status: Status | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DocumentPage:
    """A citizen's own documents, or for staff everyone's (an operator with
    ``X-Access-Reason``; each document shown goes into the access log)."""
    page = await documents.list(
        who, reason=reason, status=status, overdue=overdue, limit=limit, offset=offset
    )
    return DocumentPage(items=[_view(documents, d) for d in page.items], total=page.total)


@router.get("/{document_id}", responses=problem_responses(403))
async def metadata(
    document_id: str, who: CurrentPrincipal, documents: DocumentsDep, reason: AccessReason
) -> DocumentView:
    return _view(documents, await documents.metadata(who, document_id, reason))


@router.get(
    "/{document_id}/content",
    response_class=Response,
    responses={**_CONTENT, **problem_responses(403)},
)
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


@router.post("/{document_id}/verify", responses=problem_responses(403, 409))
async def verify(document_id: str, who: Operator, documents: DocumentsDep) -> DocumentView:
    return _view(documents, await documents.decide(who, document_id, "verified", None))


@router.post("/{document_id}/reject", responses=problem_responses(403, 409))
async def reject(
    document_id: str, body: Rejection, who: Operator, documents: DocumentsDep
) -> DocumentView:
    return _view(documents, await documents.decide(who, document_id, "rejected", body.reason))


def _view(documents: Documents, document: Document) -> DocumentView:
    return DocumentView.of(document, overdue=documents.overdue(document))


def _quote(name: str) -> str:
    return quote(name, safe="")
