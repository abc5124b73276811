"""HTTP routes of the applications service (prefix ``/api/v1/applications``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from applications import views
from applications.api.deps import AppsDep, Authorization
from applications.domain.employer import DraftIn
from applications.domain.statuses import Status
from emk_common.auth import AccessReason, CurrentPrincipal, Principal, require_roles
from emk_common.field_errors import RequestBody

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])
Citizen = Annotated[Principal, Depends(require_roles("citizen"))]
Operator = Annotated[Principal, Depends(require_roles("operator"))]


class Attachment(RequestBody):
    document_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=64)


class Answer(RequestBody):
    comment: str | None = Field(default=None, max_length=2000)


class ClarificationRequest(RequestBody):
    comment: str = Field(min_length=3, max_length=2000)
    fields: list[str] = Field(default_factory=list, max_length=50)
    documents: list[str] = Field(default_factory=list, max_length=10)


class Rejection(RequestBody):
    reason: str = Field(min_length=3, max_length=2000)
    fields: list[str] = Field(default_factory=list, max_length=50)


@router.post("", status_code=201)
async def create(
    body: DraftIn, who: Citizen, token: Authorization, applications: AppsDep
) -> dict[str, Any]:
    """A draft, by a citizen whose account is ready (asked of identity now)."""
    return await views.detail(applications, await applications.create(who, token, body))


@router.get("")
async def list_applications(
    who: CurrentPrincipal,
    applications: AppsDep,
    status: Status | None = None,
    overdue: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """A citizen's own («Мои обращения», newest first) or the operators' queue (oldest due
    first, filters ``status`` and ``overdue``); ``total`` comes from counters."""
    return await views.listing(
        applications, who, status=status, overdue=overdue, cursor=cursor, limit=limit
    )


@router.get("/{application_id}")
async def read(
    application_id: str, who: CurrentPrincipal, reason: AccessReason, applications: AppsDep
) -> dict[str, Any]:
    application = await applications.visible(who, application_id, reason)
    return await views.detail(applications, application)


@router.patch("/{application_id}")
async def edit(
    application_id: str, body: DraftIn, who: Citizen, applications: AppsDep
) -> dict[str, Any]:
    return await views.detail(applications, await applications.edit(who, application_id, body))


@router.post("/{application_id}/documents")
async def attach(
    application_id: str,
    body: Attachment,
    who: Citizen,
    token: Authorization,
    applications: AppsDep,
) -> dict[str, Any]:
    application = await applications.attach(who, token, application_id, body.document_id, body.kind)
    return await views.detail(applications, application)


@router.post("/{application_id}/submit")
async def submit(application_id: str, who: Citizen, applications: AppsDep) -> dict[str, Any]:
    return await views.detail(applications, await applications.submit(who, application_id))


@router.post("/{application_id}/resubmit")
async def resubmit(
    application_id: str, who: Citizen, applications: AppsDep, body: Answer | None = None
) -> dict[str, Any]:
    comment = body.comment if body else None
    application = await applications.resubmit(who, application_id, comment)
    return await views.detail(applications, application)


@router.post("/{application_id}/take")
async def take(application_id: str, who: Operator, applications: AppsDep) -> dict[str, Any]:
    return await views.detail(applications, await applications.take(who, application_id))


@router.post("/{application_id}/request-clarification")
async def request_clarification(
    application_id: str, body: ClarificationRequest, who: Operator, applications: AppsDep
) -> dict[str, Any]:
    application = await applications.request_clarification(
        who, application_id, body.comment, body.fields, body.documents
    )
    return await views.detail(applications, application)


@router.post("/{application_id}/approve")
async def approve(application_id: str, who: Operator, applications: AppsDep) -> dict[str, Any]:
    return await views.detail(applications, await applications.approve(who, application_id))


@router.post("/{application_id}/reject")
async def reject(
    application_id: str, body: Rejection, who: Operator, applications: AppsDep
) -> dict[str, Any]:
    application = await applications.reject(who, application_id, body.reason, body.fields)
    return await views.detail(applications, application)
