"""Staff accounts closed by an admin, the holder data records asks for, the announcement of
every personal-data change, and the login time a token carries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from emk_common import catalog
from emk_testing import TopicTap, service_token

from .conftest import Identity
from .test_login import P, auth, ready_citizen, sign_in

ADMIN = {"email": f"admin.{uuid.uuid4().hex[:8]}@emk.local", "password": "Админ-пароль-2026-!"}
PERSONAL_DATA = {
    "passport": {"series": "4509", "number": "123456", "issued_at": "2012-03-01",
                 "issued_by": "ОВД района Арбат г. Москвы", "division_code": "770-002"},
    "birth_place": "г. Москва",
    "registration_address": {"region_code": "86", "locality": "г. Сургут",
                             "street": "ул. Ленина", "house": "1"},
}  # fmt: skip


@pytest.fixture(scope="module")
def identity_settings(identity_settings: dict[str, Any]) -> dict[str, Any]:
    """The suite's settings, with a bootstrap admin of this module's own."""
    return {
        **identity_settings,
        "emk_bootstrap_admin_email": ADMIN["email"],
        "emk_bootstrap_admin_password": ADMIN["password"],
    }


@pytest.fixture(scope="module")
async def topic(kafka_bootstrap: str) -> AsyncIterator[TopicTap]:
    async with TopicTap(kafka_bootstrap, catalog.IDENTITY) as tap:
        yield tap


async def admin_token(identity: Identity, http: httpx.AsyncClient) -> str:
    started = await http.post(
        f"{P}/login", json={"login": ADMIN["email"], "password": ADMIN["password"]}
    )
    assert started.status_code == 200, started.text
    code = identity.courier.last_code(ADMIN["email"])
    verified = await http.post(
        f"{P}/login/verify", json={"challenge_id": started.json()["challenge_id"], "code": code}
    )
    return str(verified.json()["access_token"])


async def test_an_admin_closes_a_staff_account_and_its_sessions_end(
    identity: Identity, ip: str, topic: TopicTap
) -> None:
    async with identity.client(ip) as http:
        admin = await admin_token(identity, http)
        worker = {
            "role": "medical_worker",
            "last_name": "Петрова",
            "first_name": "Анна",
            "email": f"doc.{uuid.uuid4().hex[:8]}@example.ru",
            "phone": "+79990001122",
            "password": "Врачебный-пароль-2026",
            "organization_id": "1027700132195",
        }
        created = await http.post(f"{P}/staff", headers=auth(admin), json=worker)
        assert created.status_code == 201, created.text
        worker_id = created.json()["user_id"]
        started = await http.post(
            f"{P}/login", json={"login": worker["email"], "password": worker["password"]}
        )
        code = identity.courier.last_code(worker["email"])
        tokens = (
            await http.post(
                f"{P}/login/verify",
                json={"challenge_id": started.json()["challenge_id"], "code": code},
            )
        ).json()
        assert (await http.get(f"{P}/me", headers=auth(tokens["access_token"]))).status_code == 200
        assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["org"] == (
            "1027700132195"
        )

        by_worker = await http.post(
            f"{P}/staff/{worker_id}/deactivate", headers=auth(tokens["access_token"])
        )
        closed = await http.post(f"{P}/staff/{worker_id}/deactivate", headers=auth(admin))
        again = await http.post(f"{P}/staff/{worker_id}/deactivate", headers=auth(admin))
        me = await http.get(f"{P}/me", headers=auth(tokens["access_token"]))
        refreshed = await http.post(
            f"{P}/token/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        login = await http.post(
            f"{P}/login", json={"login": worker["email"], "password": worker["password"]}
        )
    assert by_worker.status_code == 403
    assert closed.status_code == 204
    assert again.status_code == 204
    assert me.status_code == 401
    assert refreshed.status_code == 401
    assert login.status_code == 403
    [event] = await topic.wait(worker_id, "StaffDeactivated")
    assert event.data["role"] == "medical_worker"
    assert event.data["organization_id"] == "1027700132195"


async def test_only_staff_accounts_are_deactivated(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        admin = await admin_token(identity, http)
        _, citizen_id = await ready_citizen(identity, http)
        answer = await http.post(f"{P}/staff/{citizen_id}/deactivate", headers=auth(admin))
        unknown = await http.post(f"{P}/staff/{uuid.uuid4().hex}/deactivate", headers=auth(admin))
    assert answer.status_code == 404
    assert unknown.status_code == 404


async def test_records_alone_reads_a_books_holder(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        data, user_id = await ready_citizen(identity, http)
        path = f"/internal/v1/users/{user_id}/holder"
        early = await http.get(path, headers=auth(service_token("records", "identity")))
        tokens = await sign_in(identity, http, data)
        saved = await http.put(
            f"{P}/me/personal-data", headers=auth(tokens["access_token"]), json=PERSONAL_DATA
        )
        assert saved.status_code == 200, saved.text
        holder = await http.get(path, headers=auth(service_token("records", "identity")))
        other = await http.get(path, headers=auth(service_token("applications", "identity")))
        nobody = await http.get(path)
    assert early.status_code == 404
    assert holder.status_code == 200
    assert holder.json() == {
        "user_id": user_id, "last_name": data["last_name"], "first_name": data["first_name"],
        "middle_name": data["middle_name"], "birth_date": data["birth_date"],
        "snils": data["snils"], "region_code": "86",
    }  # fmt: skip
    assert other.status_code == 403
    assert nobody.status_code == 401


async def test_notifications_reads_a_persons_contacts_and_region(
    identity: Identity, ip: str
) -> None:
    """The region of the registration address comes with the contacts (notifications keeps
    quiet hours in the person's time zone); none before personal data."""
    async with identity.client(ip) as http:
        data, user_id = await ready_citizen(identity, http)
        path = f"/internal/v1/users/{user_id}"
        token = auth(service_token("notifications", "identity"))
        early = await http.get(path, headers=token)
        tokens = await sign_in(identity, http, data)
        await http.put(
            f"{P}/me/personal-data", headers=auth(tokens["access_token"]), json=PERSONAL_DATA
        )
        later = await http.get(path, headers=token)
    assert early.status_code == 200
    assert early.json()["region_code"] is None
    assert later.json()["region_code"] == "86"
    assert later.json()["contacts"]["phone"] == data["phone"]


async def test_every_change_of_personal_data_is_announced(
    identity: Identity, ip: str, topic: TopicTap
) -> None:
    async with identity.client(ip) as http:
        data, user_id = await ready_citizen(identity, http)
        tokens = await sign_in(identity, http, data)
        for flat in ("1", "2"):
            address = {**PERSONAL_DATA["registration_address"], "flat": flat}  # type: ignore[dict-item]
            body = {**PERSONAL_DATA, "registration_address": address}
            answer = await http.put(
                f"{P}/me/personal-data", headers=auth(tokens["access_token"]), json=body
            )
            assert answer.status_code == 200
    changed = await topic.wait(user_id, "PersonalDataChanged", count=2)
    assert len(changed) == 2
    assert len(topic.of(user_id, "PersonalDataVerified")) == 1
    assert set(changed[0].data) == {"user_id"}


async def test_a_refreshed_token_keeps_the_time_of_the_login(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        tokens = await sign_in(identity, http, data)
        refreshed = (
            await http.post(f"{P}/token/refresh", json={"refresh_token": tokens["refresh_token"]})
        ).json()

    def claims(token: str) -> dict[str, Any]:
        decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return decoded

    first, second = claims(tokens["access_token"]), claims(refreshed["access_token"])
    assert first["auth_time"] == first["iat"]
    assert second["auth_time"] == first["auth_time"]
    assert second["jti"] != first["jti"]
