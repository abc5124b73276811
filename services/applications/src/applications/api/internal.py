"""Internal API for the other services (service tokens only; not routed by the gateway)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from applications.api.deps import ApplicationsDep
from applications.api.schemas import ChangeCommentOut, EmploymentOut
from emk_common.problems import problem_responses
from emk_common.service_auth import ServiceTokenVerifier, only_services, require_service


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
        "/applications/{application_id}/employment",
        dependencies=[Depends(only_services(caller, "records"))],
        responses=problem_responses(404),
    )
    async def employment(application_id: str, applications: ApplicationsDep) -> EmploymentOut:
        """The employer and position of a submitted application, for the medical book."""
        return EmploymentOut.of(await applications.employment(application_id))

    @router.get(
        "/applications/{application_id}/changes/{seq}/comment",
        dependencies=[Depends(only_services(caller, "notifications"))],
        responses=problem_responses(404),
    )
    async def change_comment(
        application_id: str, seq: int, applications: ApplicationsDep
    ) -> ChangeCommentOut:
        """The comment of one change of an application (an operator's or the applicant's
        words, a rejection's reason), for the notifications service alone: the events
        (``ApplicationStatusChanged.v2``, ``ApplicationRejected.v2``) carry only ``seq`` and
        whether there is one. 404 for an unknown application or change, or no comment."""
        status, comment = await applications.change_comment(application_id, seq)
        return ChangeCommentOut(
            application_id=application_id, seq=seq, status=str(status), comment=comment
        )

    return router
