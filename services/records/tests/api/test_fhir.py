"""The FHIR R5 export over HTTP: the holder's own book and a book open to a medical worker's
organisation, as ``application/fhir+json`` that ``fhir.resources`` reads back — the records
as written, with the signatures and the history of a correction (after a round trip through
the store's encryption); a worker reads it only under a grant, and the holder sees the read."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from fhir.resources import get_fhir_model_class
from fhir.resources.bundle import Bundle

from emk_testing import Caller

from .conftest import CLINIC, OTHER_CLINIC, RecordsApp, certification, exam

OWN = "/api/v1/records/book/fhir"
SNILS = "http://fhir.ru/core/systems/snils"


def staff_path(book_id: str) -> str:
    return f"/api/v1/records/books/{book_id}/fhir"


def vaccination(book_id: str) -> dict[str, Any]:
    return {
        "record_id": str(uuid.uuid4()), "kind": "vaccination", "book_id": book_id,
        "disease": "tetanus", "vaccine": "АДС-М", "dose": 2, "date": "2026-09-15",
    }  # fmt: skip


def resources(body: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == resource_type]


async def test_the_holder_exports_their_book_as_a_fhir_bundle(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    first = exam(book.id, document_ids=["scan-1"])
    await service.write(worker, book, first, certification(book.id), vaccination(book.id))
    corrected = exam(
        book.id, replaces=first["record_id"], reason="Опечатка в дате", date="2026-11-19"
    )
    await service.write(worker, book, corrected)
    async with service.client(citizen) as http:
        answer = await http.get(OWN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/fhir+json"
    assert answer.headers["cache-control"] == "no-store"
    bundle = Bundle.model_validate_json(answer.content)  # validates every resource
    body = answer.json()
    assert body["resourceType"] == "Bundle"
    assert bundle.type == "collection"
    for entry in body["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    [patient] = resources(body, "Patient")
    assert [i["value"] for i in patient["identifier"] if i["system"] == SNILS] == [
        book.holder.snils
    ]
    assert patient["birthDate"] == book.holder.birth_date.isoformat()
    conclusions = {
        r["meta"]["versionId"]: r
        for r in resources(body, "Observation")
        if r["code"]["coding"][0]["code"] == "exam-conclusion"
    }
    assert conclusions["2"]["status"] == "corrected"
    assert conclusions["2"]["effectiveDateTime"] == "2026-11-19"
    assert conclusions["1"]["status"] == "entered-in-error"
    assert conclusions["1"]["effectiveDateTime"] == "2026-11-20"
    [immunization] = resources(body, "Immunization")
    assert immunization["protocolApplied"][0]["targetDisease"][0]["text"] == "Столбняк"
    assert [d["identifier"][0]["value"] for d in resources(body, "DocumentReference")] == ["scan-1"]
    # Each version's signature is the one the book shows, as standard base64.
    async with service.client(citizen) as http:
        shown = (await http.get("/api/v1/records/book")).json()
    signatures = {
        base64.b64decode(p["signature"][0]["data"]) for p in resources(body, "Provenance")
    }
    for item in (*shown["exams"], *shown["certifications"], *shown["vaccinations"]):
        value = item["signature"]["value"]
        assert base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)) in signatures
    assert len(signatures) == 4  # three records, one corrected: four signed versions


async def test_a_worker_with_a_grant_exports_it_and_the_holder_sees_the_read(
    service: RecordsApp,
) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    async with service.client(worker) as http:
        assert (await http.get(staff_path(book.id))).status_code == 404  # no grant yet
    await service.open_book(worker, book)
    await service.write(worker, book, exam(book.id))
    async with service.client(worker) as http:
        answer = await http.get(staff_path(book.id), headers={"X-Access-Reason": "osmotr"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/fhir+json"
    body = json.loads(answer.content)
    Bundle.model_validate(body)
    [patient] = resources(body, "Patient")
    assert patient["identifier"][0]["value"] == book.holder.snils
    async with service.client(citizen) as http:
        log = (await http.get("/api/v1/records/book/access-log")).json()["items"]
    assert (log[0]["action"], log[0]["actor_role"], log[0]["organization_id"]) == (
        "read_fhir", "medical_worker", CLINIC,
    )  # fmt: skip
    assert (log[0]["actor_id"], log[0]["reason"]) == (worker.caller.user_id, "osmotr")


async def test_outside_a_grant_it_is_404_and_other_roles_403(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    _, other = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    stranger = Caller.new("medical_worker", OTHER_CLINIC)
    async with service.client(stranger) as http:
        refused = await http.get(staff_path(book.id))
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    async with service.client(worker) as http:
        assert (await http.get(staff_path(other.id))).status_code == 404  # not opened
        assert (await http.get(staff_path("guessed-id"))).status_code == 404
    unlisted = Caller.new("medical_worker", "1027700000009")  # not in the registry
    async with service.client(unlisted) as http:
        assert (await http.get(staff_path(book.id))).status_code == 403
    for role in ("citizen", "operator", "employer", "admin"):
        async with service.client(Caller.new(role, CLINIC)) as http:
            answer = await http.get(staff_path(book.id), headers={"X-Access-Reason": "audit"})
        assert answer.status_code == 403, role
    for role in ("medical_worker", "operator", "employer", "admin"):
        async with service.client(Caller.new(role, CLINIC)) as http:
            assert (await http.get(OWN)).status_code == 403, role
    async with service.client(Caller.new()) as http:  # a citizen without a book
        assert (await http.get(OWN)).status_code == 404
    async with service.client() as http:
        assert (await http.get(OWN)).status_code == 401
    async with service.client(citizen) as http:
        log = (await http.get("/api/v1/records/book/access-log")).json()["items"]
    assert "read_fhir" not in [e["action"] for e in log]  # refusals read nothing
