"""Internal API for the other services (service tokens only; not routed by the gateway)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from applications.api.deps import ApplicationsDep
from applications.api.schemas import EmploymentOut
from emk_common.problems import problem_responses
from emk_common.service_auth import ServiceTokenVerifier, require_service


def internal_router(verifier: ServiceTokenVerifier) -> APIRouter:
    # Every route here needs a service token from a trusted caller (records).
    router = APIRouter(
        prefix="/internal/v1",
        tags=["internal"],
        dependencies=[Depends(require_service(verifier))],
        responses=problem_responses(403),
    )

    @router.get("/applications/{application_id}/employment")
    async def employment(application_id: str, applications: ApplicationsDep) -> EmploymentOut:
        """The employer and position of a submitted application, for the medical book."""
        return EmploymentOut.of(await applications.employment(application_id))

    return router
