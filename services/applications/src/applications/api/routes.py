"""HTTP routes of the applications service (prefix ``/api/v1/applications``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from applications.api.deps import ApplicationsDep, Authorization, Citizen, Operator
from applications.api.schemas import (
    Answer,
    ApplicationOut,
    Attachment,
    ClarificationRequest,
    DraftIn,
    PageOut,
    Rejection,
)
from applications.domain.application import Application
from applications.domain.statuses import Status
from applications.service import Applications
from emk_common.auth import AccessReason, CurrentPrincipal
from emk_common.problems import problem_responses

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])
# A change: not the caller's role to make (403), or not in the application's state (409).
_CHANGES = problem_responses(403, 409)


async def shown(applications: Applications, application: Application) -> ApplicationOut:
    return ApplicationOut.shown(application, await applications.document_statuses(application))


@router.post("", status_code=201, responses=problem_responses(403, 409))
async def create(
    body: DraftIn, who: Citizen, token: Authorization, applications: ApplicationsDep
) -> ApplicationOut:
    """A draft, by a citizen whose account is ready (asked of identity now)."""
    return await shown(applications, await applications.create(who, token, body.to_domain()))


@router.get("", responses=problem_responses(403))
async def list_applications(
    who: CurrentPrincipal,
    applications: ApplicationsDep,
    reason: AccessReason,
    status: Status | None = None,
    overdue: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageOut:
    """A citizen's own («Мои обращения», newest first) or the operators' queue (oldest due
    first, filters ``status`` and ``overdue``; ``X-Access-Reason`` required, each application
    shown is logged); ``total`` comes from counters."""
    page = await applications.listing(
        who, reason=reason, status=status, overdue=overdue, cursor=cursor, limit=limit
    )
    return PageOut.of(page)


@router.get("/{application_id}", responses=problem_responses(403))
async def read(
    application_id: str, who: CurrentPrincipal, reason: AccessReason, applications: ApplicationsDep
) -> ApplicationOut:
    return await shown(applications, await applications.visible(who, application_id, reason))


@router.patch("/{application_id}", responses=_CHANGES)
async def edit(
    application_id: str, body: DraftIn, who: Citizen, applications: ApplicationsDep
) -> ApplicationOut:
    application = await applications.edit(who, application_id, body.to_domain())
    return await shown(applications, application)


@router.post("/{application_id}/documents", responses=_CHANGES)
async def attach(
    application_id: str,
    body: Attachment,
    who: Citizen,
    token: Authorization,
    applications: ApplicationsDep,
) -> ApplicationOut:
    application = await applications.attach(who, token, application_id, body.document_id, body.kind)
    return await shown(applications, application)


@router.post("/{application_id}/submit", responses=_CHANGES)
async def submit(
    application_id: str, who: Citizen, applications: ApplicationsDep
) -> ApplicationOut:
    return await shown(applications, await applications.submit(who, application_id))


@router.post("/{application_id}/resubmit", responses=_CHANGES)
async def resubmit(
    application_id: str, who: Citizen, applications: ApplicationsDep, body: Answer | None = None
) -> ApplicationOut:
    comment = body.comment if body else None
    return await shown(applications, await applications.resubmit(who, application_id, comment))


@router.post("/{application_id}/take", responses=_CHANGES)
async def take(application_id: str, who: Operator, applications: ApplicationsDep) -> ApplicationOut:
    return await shown(applications, await applications.take(who, application_id))


@router.post("/{application_id}/request-clarification", responses=_CHANGES)
async def request_clarification(
    application_id: str, body: ClarificationRequest, who: Operator, applications: ApplicationsDep
) -> ApplicationOut:
    application = await applications.request_clarification(
        who, application_id, body.comment, body.fields, body.documents
    )
    return await shown(applications, application)


@router.post("/{application_id}/approve", responses=_CHANGES)
async def approve(
    application_id: str, who: Operator, applications: ApplicationsDep
) -> ApplicationOut:
    return await shown(applications, await applications.approve(who, application_id))


@router.post("/{application_id}/reject", responses=_CHANGES)
async def reject(
    application_id: str, body: Rejection, who: Operator, applications: ApplicationsDep
) -> ApplicationOut:
    application = await applications.reject(who, application_id, body.reason, body.fields)
    return await shown(applications, application)
