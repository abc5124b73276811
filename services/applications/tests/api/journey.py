"""Steps the applications tests share: a complete draft, submitted, taken."""

from __future__ import annotations

from typing import Any

from .conftest import DRAFT, ApplicationsApp, Person, person


async def complete_draft(service: ApplicationsApp, citizen: Person) -> dict[str, Any]:
    passport = service.upstream.upload(citizen, "passport")
    policy = service.upstream.upload(citizen, "oms_policy")
    async with service.client(citizen) as http:
        draft = (await http.post("/api/v1/applications", json=DRAFT)).json()
        for document_id, kind in ((passport, "passport"), (policy, "oms_policy")):
            attached = await http.post(
                f"/api/v1/applications/{draft['id']}/documents",
                json={"document_id": document_id, "kind": kind},
            )
            assert attached.status_code == 200, attached.text
    return dict(attached.json())


async def submitted(service: ApplicationsApp, citizen: Person | None = None) -> dict[str, Any]:
    citizen = citizen or service.ready_citizen()
    draft = await complete_draft(service, citizen)
    async with service.client(citizen) as http:
        done = await http.post(f"/api/v1/applications/{draft['id']}/submit")
    assert done.status_code == 200, done.text
    return dict(done.json())


async def taken(
    service: ApplicationsApp, operator: Person | None = None
) -> tuple[dict[str, Any], Person]:
    operator = operator or person("operator")
    application = await submitted(service)
    async with service.client(operator) as http:
        took = await http.post(f"/api/v1/applications/{application['id']}/take")
    assert took.status_code == 200, took.text
    return dict(took.json()), operator
