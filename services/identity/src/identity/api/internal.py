"""Internal API for the other services (service tokens only; not routed by the gateway),
and the public JWKS at the service root."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from emk_common.problems import Problem
from emk_common.service_auth import ServiceTokenVerifier, require_service
from identity.api.deps import AppDep
from identity.domain.users import Status

public = APIRouter(tags=["keys"])


@public.get("/.well-known/jwks.json")
async def jwks(app: AppDep) -> dict[str, Any]:
    return await app.keys.jwks()


def internal_router(verifier: ServiceTokenVerifier) -> APIRouter:
    # Every route here needs a service token from a trusted caller.
    caller = require_service(verifier)
    router = APIRouter(prefix="/internal/v1", tags=["internal"], dependencies=[Depends(caller)])

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

    @router.get("/users/{user_id}/holder")
    async def book_holder(
        user_id: str,
        app: AppDep,
        # A default, not an annotation: annotations are strings here, and ``caller`` is local.
        service: str = Depends(caller),
    ) -> dict[str, Any]:
        """What a medical book shows of its holder — for the records service alone: the name,
        birth date, СНИЛС and the region of the registration address (the book's number
        starts with it). 404 until the personal data is entered."""
        if service != "records":
            raise Problem.forbidden(f"Сервису «{service}» не разрешено читать данные держателя.")
        doc = await app.accounts.require(user_id)
        if doc["role"] != "citizen" or not doc.get("personal_data"):
            raise Problem.not_found("Персональные данные не заполнены.")
        person = app.accounts.vault.open(doc["_id"], doc["pii"])
        data = app.accounts.vault.open(doc["_id"], doc["personal_data"], part="personal_data")
        return {
            "user_id": doc["_id"],
            "last_name": person["last_name"],
            "first_name": person["first_name"],
            "middle_name": person.get("middle_name"),
            "birth_date": person["birth_date"],
            "snils": person["snils"],
            "region_code": data["registration_address"]["region_code"],
        }

    return router
