"""A citizen and staff through identity and notifications, as real processes.

Codes are read where a person would read them: the SMS spool and the Maildir the
notifications service delivers to (through Kafka, sealed).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from emk_common.service_auth import ServiceTokenIssuer
from emk_common.settings import decode_keyring
from emk_devstack.ports import SERVICES
from emk_devstack.stack import Stack
from emk_testing import eventually

from .journey import CODE, Inbox, bearer, login, new_person

PERSONAL_DATA = {
    "passport": {
        "series": "4509",
        "number": "123456",
        "issued_at": "2010-06-01",
        "issued_by": "ОВД района Тверской г. Москвы",
        "division_code": "770-001",
    },
    "birth_place": "г. Москва",
    "registration_address": {
        "region_code": "77",
        "postal_code": "125009",
        "locality": "г. Москва",
        "street": "ул. Тверская",
        "house": "7",
        "flat": "12",
    },
    "oms_policy": "7700000000000008",
}


@pytest.fixture
async def identity(platform: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.service_url("identity"), timeout=30) as http:
        yield http


@pytest.fixture
def inbox(platform: Stack) -> Inbox:
    return Inbox(platform.var_dir)


async def register_ready_citizen(
    identity: httpx.AsyncClient, inbox: Inbox
) -> tuple[dict[str, Any], dict[str, Any], str]:
    person = new_person()
    registered = await identity.post("/api/v1/identity/register", json=person)
    assert registered.status_code == 201, registered.text
    user_id = registered.json()["user_id"]
    assert registered.json()["status"] == "pending_contacts"

    sms_code = await inbox.sms_code(person["phone"])
    mail_code = await inbox.mail_code(person["email"])
    first = await identity.post(
        "/api/v1/identity/contacts/verify",
        json={"user_id": user_id, "channel": "sms", "code": sms_code},
    )
    assert first.json()["status"] == "pending_contacts"
    second = await identity.post(
        "/api/v1/identity/contacts/verify",
        json={"user_id": user_id, "channel": "email", "code": mail_code},
    )
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "pending_personal_data"

    tokens = await login(
        identity, inbox, person["email"], person["password"], channel_target=person["phone"]
    )
    done = await identity.put(
        "/api/v1/identity/me/personal-data", json=PERSONAL_DATA, headers=bearer(tokens)
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ready"
    return person, tokens, user_id


async def test_a_citizen_registers_confirms_logs_in_with_two_factors_and_becomes_ready(
    identity: httpx.AsyncClient, inbox: Inbox, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    person, tokens, user_id = await register_ready_citizen(identity, inbox)

    me = (await identity.get("/api/v1/identity/me", headers=bearer(tokens))).json()
    assert me["status"] == "ready"
    assert me["status_label"] == "Учётная запись готова к работе"
    assert me["last_name"] == "Иванова"
    assert me["phone"].endswith(person["phone"][-2:])
    assert person["phone"] not in str(me)
    assert me["snils"].startswith("***-***-")

    # Nothing personal is readable in the database itself.
    raw = str(await mongo["emk_identity"]["users"].find_one({"_id": user_id}))
    snils_digits = person["snils"].replace("-", "").replace(" ", "")
    for secret in (
        person["phone"],
        person["email"],
        snils_digits,
        "Иванова",
        "123456",
        "7700000000000008",
    ):
        assert secret not in raw


async def test_registering_with_someones_phone_and_snils_tells_them_and_not_the_registrant(
    identity: httpx.AsyncClient, inbox: Inbox
) -> None:
    """No account oracle: the answer is a new registration's; the owner's phone hears of the
    attempt (through Kafka and notifications), the e-mail typed in the attempt hears nothing."""
    owner, _, _ = await register_ready_citizen(identity, inbox)
    attempt = new_person()
    attempt.update(phone=owner["phone"], snils=owner["snils"])
    answered = await identity.post("/api/v1/identity/register", json=attempt)
    assert answered.status_code == 201
    assert answered.json()["status"] == "pending_contacts"

    async def told() -> str | None:
        return next((t for t in inbox.sms_texts(owner["phone"]) if "пытался" in t), None)

    text = await eventually(told, within=30, what="the owner's SMS about the attempt")
    assert text == (
        "ЭМК: кто-то пытался зарегистрироваться с вашим номером телефона и СНИЛС. Если это были "
        "не вы, ничего делать не нужно."
    )
    assert inbox.mails(attempt["email"]) == []  # no code for a registration that was not made


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    identity: httpx.AsyncClient, inbox: Inbox
) -> None:
    _, tokens, _ = await register_ready_citizen(identity, inbox)
    rotated = await identity.post(
        "/api/v1/identity/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status_code == 200
    fresh = rotated.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]

    replayed = await identity.post(
        "/api/v1/identity/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert replayed.status_code == 401
    # The reuse revoked the whole family: the newest refresh token and its access token die too.
    after = await identity.post(
        "/api/v1/identity/token/refresh", json={"refresh_token": fresh["refresh_token"]}
    )
    assert after.status_code == 401
    assert (await identity.get("/api/v1/identity/me", headers=bearer(fresh))).status_code == 401


async def test_logout_ends_the_session(identity: httpx.AsyncClient, inbox: Inbox) -> None:
    _, tokens, _ = await register_ready_citizen(identity, inbox)
    assert (
        await identity.post("/api/v1/identity/logout", headers=bearer(tokens))
    ).status_code == 204
    assert (await identity.get("/api/v1/identity/me", headers=bearer(tokens))).status_code == 401
    refresh = await identity.post(
        "/api/v1/identity/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_the_admin_creates_staff_who_log_in_with_a_code_by_email(
    identity: httpx.AsyncClient, inbox: Inbox, platform: Stack
) -> None:
    env = platform.env
    admin = await login(
        identity,
        inbox,
        env["EMK_BOOTSTRAP_ADMIN_EMAIL"],
        env["EMK_BOOTSTRAP_ADMIN_PASSWORD"],
        channel_target=env["EMK_BOOTSTRAP_ADMIN_EMAIL"],
    )
    staff = new_person()
    created = await identity.post(
        "/api/v1/identity/staff",
        headers=bearer(admin),
        json={
            "role": "operator",
            "last_name": "Смирнов",
            "first_name": "Олег",
            "email": staff["email"],
            "phone": staff["phone"],
            "password": staff["password"],
        },
    )
    assert created.status_code == 201, created.text
    operator = await login(
        identity, inbox, staff["email"], staff["password"], channel_target=staff["email"]
    )
    me = (await identity.get("/api/v1/identity/me", headers=bearer(operator))).json()
    assert me["role"] == "operator"
    assert me["status"] == "ready"

    # An operator may not create staff.
    refused = await identity.post("/api/v1/identity/staff", headers=bearer(operator), json={
        "role": "admin", "last_name": "Захватов", "first_name": "Иван", "email": "x@example.ru",
        "phone": "+79990000000", "password": "Очень-длинный-пароль-1",
    })  # fmt: skip
    assert refused.status_code == 403


async def test_other_services_read_contacts_only_with_a_service_token(
    identity: httpx.AsyncClient, inbox: Inbox, platform: Stack
) -> None:
    person, _, user_id = await register_ready_citizen(identity, inbox)
    env = platform.env
    issuer = ServiceTokenIssuer(
        "notifications",
        decode_keyring(env["NOTIFICATIONS_SIGNING_KEYS"]),
        env["NOTIFICATIONS_SIGNING_KID"],
        60,
    )
    path = f"/internal/v1/users/{user_id}"
    assert (await identity.get(path)).status_code == 401
    answer = await identity.get(
        path, headers={"Authorization": f"Bearer {issuer.token_for('identity')}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["ready"] is True
    assert answer.json()["contacts"] == {"phone": person["phone"], "email": person["email"]}


async def test_no_personal_data_or_code_reaches_any_log(
    identity: httpx.AsyncClient, inbox: Inbox, platform: Stack
) -> None:
    person, _, _ = await register_ready_citizen(identity, inbox)
    codes = [CODE.search(text).group(1) for text in inbox.sms_texts(person["phone"])]  # type: ignore[union-attr]
    snils_digits = person["snils"].replace("-", "").replace(" ", "")
    secrets = [
        person["phone"],
        person["phone"][2:],
        person["email"],
        snils_digits,
        person["password"],
    ]
    patterns = [re.compile(re.escape(s)) for s in secrets]
    patterns += [re.compile(rf"(?<!\d){code}(?!\d)") for code in codes]
    logs = {
        name: (platform.logs_dir / f"{name}.log").read_text(errors="replace") for name in SERVICES
    }
    assert all(logs.values())
    leaks = {name: p.pattern for name, text in logs.items() for p in patterns if p.search(text)}
    assert leaks == {}
