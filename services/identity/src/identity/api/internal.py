"""Internal API for the other services (service tokens only; not routed by the gateway),
and the public JWKS at the service root."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from emk_common.service_auth import ServiceTokenVerifier, require_service
from identity.api.deps import AppDep
from identity.domain.users import Status

public = APIRouter(tags=["keys"])


@public.get("/.well-known/jwks.json")
async def jwks(app: AppDep) -> dict[str, Any]:
    return await app.keys.jwks()


def internal_router(verifier: ServiceTokenVerifier) -> APIRouter:
    # Every route here needs a service token from a trusted caller.
    router = APIRouter(
        prefix="/internal/v1", tags=["internal"], dependencies=[Depends(require_service(verifier))]
    )

    @router.get("/users/{user_id}")
    async def internal_user(user_id: str, app: AppDep) -> dict[str, Any]:
        """Readiness and contacts of a user, so phone numbers and e-mails never travel on topics."""
        doc = await app.accounts.require(user_id)
        person = app.accounts.vault.open(doc["_id"], doc["pii"])
        return {
            "user_id": doc["_id"],
            "role": doc["role"],
            "status": doc["status"],
            "ready": doc["status"] == Status.READY,
            "organization_id": doc.get("organization_id"),
            "last_name": person["last_name"],
            "first_name": person["first_name"],
            "middle_name": person.get("middle_name"),
            "contacts": {
                "phone": person.get("phone") if doc["contacts"]["sms"]["verified"] else None,
                "email": person.get("email") if doc["contacts"]["email"]["verified"] else None,
            },
        }

    return router
