"""The citizen's "who saw my data" (``GET /me/access-log``): every service's accesses, newest
first, a page at a time, each with its reason asked of the service that keeps it (a service
away: the access is still shown, its reason ``null`` and flagged); a staff member's name; bad
query parameters answered with problem+json naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from identity.adapters.courier import SealedCodeCourier
from identity.adapters.passwords import Argon2Passwords
from identity.app import build
from identity.ports import ReasonsUnavailableError
from identity.settings import IdentitySettings
from identity.store.accesses import COLLECTION, Access, DataAccesses

from .conftest import Identity, RecordingCourier
from .test_login import P, auth, ready_citizen, sign_in
from .test_staff import ADMIN, admin_token

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class FakeReasons:
    """Documents gives its reasons; records is away."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str]]] = []

    async def reasons(
        self, service: str, owner_id: str, entry_ids: list[str]
    ) -> dict[str, str | None]:
        self.asked.append((service, list(entry_ids)))
        if service == "records":
            raise ReasonsUnavailableError("records: ConnectError")
        return {i: f"Причина {i}" for i in entry_ids}

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def identity_settings(identity_settings: dict[str, Any]) -> dict[str, Any]:
    return {
        **identity_settings,
        "emk_bootstrap_admin_email": ADMIN["email"],
        "emk_bootstrap_admin_password": ADMIN["password"],
    }


@pytest.fixture(scope="module")
def reasons() -> FakeReasons:
    return FakeReasons()


@pytest.fixture(scope="module")
async def identity(
    identity_settings: dict[str, Any], reasons: FakeReasons
) -> AsyncIterator[Identity]:
    settings = IdentitySettings(**identity_settings)
    courier = RecordingCourier(
        SealedCodeCourier.from_keyring(
            settings.notifications_otp_public_keys, settings.notifications_otp_kid
        )
    )
    passwords = Argon2Passwords.from_settings(settings)
    app = build(settings, courier=courier, passwords=passwords, reasons=reasons)
    async with app.router.lifespan_context(app):
        yield Identity(app, settings, courier, passwords)


def access(n: int, owner: str, **overrides: Any) -> Access:
    fields: dict[str, Any] = {
        "id": f"documents:{n}",
        "service": "documents",
        "owner_id": owner,
        "actor_id": "operator-x",
        "actor_role": "operator",
        "organization_id": "7701000001",
        "resource": "document",
        "subject_id": f"doc-{n}",
        "action": "read_content",
        "at": AT + timedelta(minutes=n),
        "has_reason": True,
        **overrides,
    }
    return Access(**fields)


async def _citizen(identity: Identity, http: httpx.AsyncClient) -> tuple[str, str]:
    data, user_id = await ready_citizen(identity, http)
    tokens = await sign_in(identity, http, data)
    return user_id, str(tokens["access_token"])


async def test_pages_newest_first_with_reasons_names_and_a_service_away(
    identity: Identity, ip: str, reasons: FakeReasons
) -> None:
    store = DataAccesses(identity.app.state.runtime.collection(COLLECTION))
    async with identity.client(ip) as http:
        admin = await admin_token(identity, http)
        worker = {
            "role": "medical_worker", "last_name": "Смирнова", "first_name": "Ольга",
            "middle_name": "Петровна", "email": f"doc.{uuid.uuid4().hex[:8]}@example.ru",
            "phone": "+79990001133", "password": "Врачебный-пароль-2026",
            "organization_id": "1027700132195",
        }  # fmt: skip
        created = await http.post(f"{P}/staff", headers=auth(admin), json=worker)
        assert created.status_code == 201, created.text
        worker_id = created.json()["user_id"]
        owner, token = await _citizen(identity, http)
        other, _ = await _citizen(identity, http)
        for n in range(1, 5):
            await store.keep(access(n, owner), f"event-{n}")
        # Two at the same instant: ordered by id, neither lost between pages.
        await store.keep(access(5, owner, at=AT + timedelta(minutes=4)), "event-5")
        await store.keep(
            access(
                6, owner, id="records:6", service="records", actor_id=worker_id,
                actor_role="medical_worker", organization_id="1027700132195",
                resource="book", subject_id="book-1", action="read",
            ),
            "event-6",
        )  # fmt: skip
        await store.keep(access(7, other), "event-7")  # someone else's
        await store.keep(access(1, owner), "event-1-again")  # a copy: nothing changes
        reasons.asked.clear()
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"before": cursor} if cursor else {})
            answer = await http.get(f"{P}/me/access-log", params=params, headers=auth(token))
            assert answer.status_code == 200, answer.text
            pages.append(answer.json())
            cursor = answer.json()["next"]
            if cursor is None:
                break
    ids = [item["id"] for page in pages for item in page["items"]]
    assert ids == [
        "records:6", "documents:5", "documents:4", "documents:3", "documents:2", "documents:1",
    ]  # fmt: skip
    assert [len(p["items"]) for p in pages] == [2, 2, 2]
    first, second = pages[0]["items"]
    assert first["service_label"] == "Медицинская книжка"
    assert first["actor"] == {
        "role": "medical_worker", "role_label": "Медицинский работник",
        "organization_id": "1027700132195", "name": "Смирнова Ольга Петровна",
    }  # fmt: skip
    assert first["resource_label"] == "Медицинская книжка"
    assert first["action_label"] == "Просмотр"
    assert first["reason"] is None  # records is away: shown, its reason flagged
    assert first["reason_unavailable"] is True
    assert second["reason"] == "Причина documents:5"
    assert second["reason_unavailable"] is False
    assert second["actor"]["name"] is None  # identity knows no such staff member
    assert second["action_label"] == "Просмотр содержимого документа"
    # One call per service per page.
    assert reasons.asked[:2] == [("records", ["records:6"]), ("documents", ["documents:5"])]
    assert len(reasons.asked) == 4


async def test_bad_query_parameters_are_named(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        _, token = await _citizen(identity, http)
        cases: dict[str, dict[str, str | int]] = {
            "limit": {"limit": 0},
            "limit-big": {"limit": 101},
            "limit-word": {"limit": "много"},
            "before": {"before": "не курсор"},
            "before-shape": {"before": "bm90LWEtY3Vyc29y"},  # base64 of "not-a-cursor"
        }
        answers = {
            name: await http.get(f"{P}/me/access-log", params=params, headers=auth(token))
            for name, params in cases.items()
        }
        anonymous = await http.get(f"{P}/me/access-log")
    for name, answer in answers.items():
        field = name.split("-")[0]
        assert answer.status_code == 422, (name, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        errors = answer.json()["errors"]
        assert [e["field"] for e in errors] == [field], (name, errors)
        assert f"«{field}»" in errors[0]["message"]
    assert anonymous.status_code == 401


async def test_an_empty_log_is_one_empty_page(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        _, token = await _citizen(identity, http)
        answer = await http.get(f"{P}/me/access-log", headers=auth(token))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"items": [], "next": None}
