"""Internal API for the other services (service tokens only; not routed by the gateway)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from documents.api.deps import DocumentsDep
from emk_common.problems import problem_responses
from emk_common.service_auth import ServiceTokenVerifier, only_services, require_service


class RejectionOut(BaseModel):
    """Why a document was rejected: the operator's words, which stay off the topics."""

    document_id: str
    reason: str


def internal_router(verifier: ServiceTokenVerifier) -> APIRouter:
    # Every route here needs a service token from a trusted caller (``TRUSTED_CALLERS``), and
    # each route serves only the callers it names among them.
    caller = require_service(verifier)
    router = APIRouter(
        prefix="/internal/v1",
        tags=["internal"],
        dependencies=[Depends(caller)],
        responses=problem_responses(401, 403),
    )

    @router.get(
        "/documents/{document_id}/rejection",
        dependencies=[Depends(only_services(caller, "notifications"))],
        responses=problem_responses(404),
    )
    async def rejection(document_id: str, documents: DocumentsDep) -> RejectionOut:
        """The reason of a document's rejection, for the notifications service alone: the
        event (``DocumentRejected.v2``) carries only whether there is one. 404 for an unknown
        document, one not rejected, or a rejection without a reason."""
        reason = await documents.rejection_reason(document_id)
        return RejectionOut(document_id=document_id, reason=reason)

    return router
