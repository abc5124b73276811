"""Drafts, editing and attaching documents: every rule, every bad input, who may do what."""

from __future__ import annotations

import re
from typing import Any

from pymongo import AsyncMongoClient

from .conftest import DRAFT, EMPLOYER, OMS, ApplicationsApp, person


def fields(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem["errors"]}


async def test_a_ready_citizen_drafts_with_consent_recorded(service: ApplicationsApp) -> None:
    citizen = service.ready_citizen()
    async with service.client(citizen) as http:
        created = await http.post("/api/v1/applications", json=DRAFT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "draft"
    assert body["status_label"] == "Черновик"
    assert body["number"] is None
    assert body["employer"]["inn"] == EMPLOYER["inn"]
    assert body["oms_policy"] == OMS
    assert body["consent"]["text_version"] == "2025-09-01"
    assert body["consent"]["given_at"]
    assert [h["status"] for h in body["history"]] == ["draft"]
    # Times in UTC, as pydantic writes them (and the API always has): ``…Z``.
    for at in (body["created_at"], body["consent"]["given_at"], body["history"][0]["at"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", at), at


async def test_readiness_is_asked_of_identity_at_that_moment(service: ApplicationsApp) -> None:
    citizen = service.ready_citizen()
    service.upstream.ready.discard(citizen.user_id)
    async with service.client(citizen) as http:
        refused = await http.post("/api/v1/applications", json=DRAFT)
        assert refused.status_code == 409
        assert "персональные данные" in refused.json()["detail"]
        service.upstream.ready.add(citizen.user_id)  # personal data saved a moment ago
        assert (await http.post("/api/v1/applications", json=DRAFT)).status_code == 201


async def test_the_oms_policy_is_encrypted_at_rest(
    service: ApplicationsApp, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    citizen = service.ready_citizen()
    async with service.client(citizen) as http:
        created = (await http.post("/api/v1/applications", json=DRAFT)).json()
    raw = await service.store.applications.find_one({"_id": created["id"]})
    assert OMS not in str(raw)


async def test_every_wrong_field_is_named_at_once(service: ApplicationsApp) -> None:
    citizen = service.ready_citizen()
    bad = {
        "employer": {
            **EMPLOYER,
            "inn": "7734567890",  # wrong check digit
            "ogrn": "1027700123451",  # wrong check digit
            "org_type": "corporation",
            "ownership": "mixed",
            "hr_email": "кадры",
        },
        "oms_policy": "7700000000000009",  # fails Luhn
    }
    async with service.client(citizen) as http:
        refused = await http.post("/api/v1/applications", json=bad)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {
        "employer.inn",
        "employer.ogrn",
        "employer.org_type",
        "employer.ownership",
        "employer.hr_email",
        "oms_policy",
    } <= fields(refused.json())
    assert all(e["message"] for e in refused.json()["errors"])
    assert await service.store.applications.count_documents({"applicant_id": citizen.user_id}) == 0


async def test_an_inn_of_a_company_does_not_go_with_an_ogrnip(service: ApplicationsApp) -> None:
    citizen = service.ready_citizen()
    body = {"employer": {**EMPLOYER, "ogrn": "304500116000157"}}
    async with service.client(citizen) as http:
        refused = await http.post("/api/v1/applications", json=body)
    assert refused.status_code == 422
    assert "employer.ogrn" in fields(refused.json())


async def test_unknown_fields_and_wrong_types_are_422_not_500(service: ApplicationsApp) -> None:
    citizen = service.ready_citizen()
    async with service.client(citizen) as http:
        extra = await http.post("/api/v1/applications", json={**DRAFT, "passport": "4509 123456"})
        typed = await http.post("/api/v1/applications", json={"employer": "ООО"})
        broken = await http.post(
            "/api/v1/applications",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
    assert extra.status_code == 422
    assert "passport" in fields(extra.json())
    assert typed.status_code == 422
    assert "employer" in fields(typed.json())
    assert broken.status_code == 422


async def test_only_a_citizen_drafts_and_only_with_a_token(service: ApplicationsApp) -> None:
    async with service.client() as anonymous:
        assert (await anonymous.post("/api/v1/applications", json=DRAFT)).status_code == 401
    async with service.client(person("operator")) as operator:
        assert (await operator.post("/api/v1/applications", json=DRAFT)).status_code == 403


async def test_a_draft_is_edited_by_its_owner_only(service: ApplicationsApp) -> None:
    owner, stranger = service.ready_citizen(), service.ready_citizen()
    async with service.client(owner) as http:
        draft = (await http.post("/api/v1/applications", json={"employer": {"name": "ИП"}})).json()
        edited = await http.patch(
            f"/api/v1/applications/{draft['id']}",
            json={"employer": {"position": "Продавец"}, "consent_personal_data": True},
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["employer"] == {"name": "ИП", "position": "Продавец"}
        assert edited.json()["consent"] is not None
        assert "Должность" in edited.json()["history"][-1]["comment"]
        wrong = await http.patch(f"/api/v1/applications/{draft['id']}", json={"oms_policy": "123"})
        assert wrong.status_code == 422
        assert fields(wrong.json()) == {"oms_policy"}
    async with service.client(stranger) as http:
        theirs = await http.patch(
            f"/api/v1/applications/{draft['id']}", json={"employer": {"position": "Шеф"}}
        )
        assert theirs.status_code == 404
        assert (await http.get(f"/api/v1/applications/{draft['id']}")).status_code == 404


async def test_attaching_checks_the_document_with_the_documents_service(
    service: ApplicationsApp,
) -> None:
    owner, stranger = service.ready_citizen(), service.ready_citizen()
    own_passport = service.upstream.upload(owner, "passport")
    others = service.upstream.upload(stranger, "passport")
    rejected = service.upstream.upload(owner, "oms_policy", status="rejected")
    async with service.client(owner) as http:
        draft = (await http.post("/api/v1/applications", json=DRAFT)).json()
        url = f"/api/v1/applications/{draft['id']}/documents"
        ok = await http.post(url, json={"document_id": own_passport, "kind": "passport"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["documents"][0]["document_id"] == own_passport
        assert ok.json()["documents"][0]["kind_label"] == "Скан паспорта"

        not_mine = await http.post(url, json={"document_id": others, "kind": "passport"})
        unknown = await http.post(url, json={"document_id": "nope", "kind": "passport"})
        mismatch = await http.post(url, json={"document_id": own_passport, "kind": "oms_policy"})
        bad_kind = await http.post(url, json={"document_id": own_passport, "kind": "selfie"})
        declined = await http.post(url, json={"document_id": rejected, "kind": "oms_policy"})
        missing = await http.post(url, json={"kind": "passport"})
    assert not_mine.status_code == 422
    assert fields(not_mine.json()) == {"document_id"}
    assert unknown.status_code == 422
    assert fields(unknown.json()) == {"document_id"}
    assert mismatch.status_code == 422
    assert fields(mismatch.json()) == {"kind"}
    assert bad_kind.status_code == 422
    assert fields(bad_kind.json()) == {"kind"}
    assert declined.status_code == 422
    assert "отклонён" in declined.json()["errors"][0]["message"]
    assert missing.status_code == 422
    assert fields(missing.json()) == {"document_id"}


async def test_the_employer_is_checked_against_the_registry(service: ApplicationsApp) -> None:
    """The local ЕГРЮЛ (deploy/local/registries/organisations.json) fills in a known pair
    and refuses a pair that belongs to two organisations or to a closed one."""
    citizen = service.ready_citizen()
    cafe = {"inn": "7710543822", "ogrn": "1197746318527", "name": "Кафе", "position": "Повар"}
    async with service.client(citizen) as http:
        known = await http.post("/api/v1/applications", json={"employer": cafe})
        crossed = await http.post(
            "/api/v1/applications",
            json={"employer": {**cafe, "ogrn": "1027739174506"}},  # the school's ОГРН
        )
        closed = await http.post(
            "/api/v1/applications",
            json={"employer": {"inn": "7814329051", "ogrn": "1157847318628"}},
        )
    assert known.status_code == 201, known.text
    assert known.json()["employer"]["name"] != "Кафе"  # the registry's name wins
    assert known.json()["employer"]["legal_address"]["region_code"] == "77"
    assert known.json()["employer_checked_in_registry"] is True
    assert crossed.status_code == 422
    assert [e["code"] for e in crossed.json()["errors"]] == ["registry_mismatch"]
    assert closed.status_code == 422
    assert fields(closed.json()) == {"employer.inn"}


async def test_a_repeated_post_with_the_same_idempotency_key_creates_one_draft(
    service: ApplicationsApp,
) -> None:
    citizen = service.ready_citizen()
    async with service.client(citizen) as http:
        key = {"Idempotency-Key": "5f0c2a8e-draft-1"}
        first = await http.post("/api/v1/applications", json=DRAFT, headers=key)
        again = await http.post("/api/v1/applications", json=DRAFT, headers=key)
        other = await http.post(
            "/api/v1/applications", json={**DRAFT, "oms_policy": None}, headers=key
        )
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert await service.store.applications.count_documents({"applicant_id": citizen.user_id}) == 1
