"""Internal API for the other services (service tokens only; not routed by the gateway),
and the public JWKS at the service root."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from emk_common.problems import problem_responses
from emk_common.service_auth import ServiceTokenVerifier, require_service
from identity.api.deps import IdentityDep
from identity.api.schemas import BookHolder, InternalUser, Jwks

public = APIRouter(tags=["keys"])


@public.get("/.well-known/jwks.json")
async def jwks(identity: IdentityDep) -> Jwks:
    return Jwks.of(await identity.keys.published())


def internal_router(verifier: ServiceTokenVerifier) -> APIRouter:
    # Every route here needs a service token from a trusted caller.
    caller = require_service(verifier)
    router = APIRouter(
        prefix="/internal/v1",
        tags=["internal"],
        dependencies=[Depends(caller)],
        responses=problem_responses(403),
    )

    @router.get("/users/{user_id}")
    async def internal_user(user_id: str, identity: IdentityDep) -> InternalUser:
        """Readiness, contacts and address region of a user, so phone numbers and e-mails
        never travel on topics (the region: notifications keeps quiet hours in its zone)."""
        return InternalUser.of(await identity.require(user_id))

    @router.get("/users/{user_id}/holder")
    async def book_holder(
        user_id: str,
        identity: IdentityDep,
        # A default, not an annotation: annotations are strings here, and ``caller`` is local.
        service: str = Depends(caller),
    ) -> BookHolder:
        """What a medical book shows of its holder — for the records service alone: the name,
        birth date, СНИЛС and the region of the registration address (the book's number
        starts with it). 404 until the personal data is entered."""
        return BookHolder.of(await identity.book_holder(user_id, service))

    return router
