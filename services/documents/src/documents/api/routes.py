"""HTTP routes of the documents service (prefix ``/api/v1/documents``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from documents.api.upload import read_upload
from documents.domain.inspection import MAX_BYTES
from documents.files import Documents
from emk_common.auth import AccessReason, CurrentPrincipal, Principal, require_roles
from emk_common.field_errors import RequestBody

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])
Operator = Annotated[Principal, Depends(require_roles("operator"))]
Citizen = Annotated[Principal, Depends(require_roles("citizen"))]


def get_documents(request: Request) -> Documents:
    documents: Documents = request.app.state.documents
    return documents


DocumentsDep = Annotated[Documents, Depends(get_documents)]


class Rejection(RequestBody):
    reason: str = Field(min_length=3, max_length=1000)


@router.post("", status_code=201)
async def upload(request: Request, who: Citizen, documents: DocumentsDep) -> dict[str, Any]:
    """Multipart ``file`` + ``kind``; read by us up to 5 MB + 1 byte, never buffered whole.
    The role is checked before a byte of the body is read."""
    received = await read_upload(request, limit=MAX_BYTES)
    return await documents.upload(
        who, received.fields.get("kind", ""), received.filename, received.data
    )


@router.get("")
async def list_documents(
    who: CurrentPrincipal,
    documents: DocumentsDep,
    status: Literal["pending_review", "verified", "rejected"] | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    return await documents.list(who, status=status, overdue=overdue, limit=limit, offset=offset)


@router.get("/{document_id}")
async def metadata(
    document_id: str, who: CurrentPrincipal, documents: DocumentsDep, reason: AccessReason
) -> dict[str, Any]:
    return documents.view(await documents.visible(who, document_id, reason=reason, content=False))


@router.get("/{document_id}/content")
async def content(
    document_id: str, who: CurrentPrincipal, documents: DocumentsDep, reason: AccessReason
) -> Response:
    document = await documents.visible(who, document_id, reason=reason, content=True)
    chunks = await documents.content(who, document, reason)
    return StreamingResponse(
        chunks,
        media_type=document["content_type"],
        headers={
            "Content-Length": str(document["size"]),
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(document['filename'])}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/{document_id}/verify")
async def verify(document_id: str, who: Operator, documents: DocumentsDep) -> dict[str, Any]:
    return await documents.decide(who, document_id, "verified", None)


@router.post("/{document_id}/reject")
async def reject(
    document_id: str, body: Rejection, who: Operator, documents: DocumentsDep
) -> dict[str, Any]:
    return await documents.decide(who, document_id, "rejected", body.reason)


def _quote(name: str) -> str:
    return quote(name, safe="")
