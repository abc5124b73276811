"""Login with two factors, brute force, enumeration, tokens and their tampering."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emk_testing import eventually
from identity.adapters.token_keys import SigningKeys
from identity.domain import totp

from .conftest import Identity, person

P = "/api/v1/identity"


async def ready_citizen(identity: Identity, http: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    data = person()
    user_id = (await http.post(f"{P}/register", json=data)).json()["user_id"]
    for channel, destination in (("sms", data["phone"]), ("email", data["email"])):
        code = identity.courier.last_code(destination)
        answer = await http.post(
            f"{P}/contacts/verify", json={"user_id": user_id, "channel": channel, "code": code}
        )
        assert answer.status_code == 200, answer.text
    return data, user_id


async def sign_in(
    identity: Identity, http: httpx.AsyncClient, data: dict[str, Any]
) -> dict[str, Any]:
    started = await http.post(
        f"{P}/login", json={"login": data["email"], "password": data["password"]}
    )
    assert started.status_code == 200, started.text
    challenge = started.json()
    assert challenge["channel"] == "sms"
    assert challenge["expires_in"] == 300
    code = identity.courier.last_code(data["phone"])
    verified = await http.post(
        f"{P}/login/verify", json={"challenge_id": challenge["challenge_id"], "code": code}
    )
    assert verified.status_code == 200, verified.text
    tokens: dict[str, Any] = verified.json()
    return tokens


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_by_email_phone_or_snils_then_a_code(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        data, user_id = await ready_citizen(identity, http)
        tokens = await sign_in(identity, http, data)
        assert tokens["token_type"] == "Bearer"
        me = await http.get(f"{P}/me", headers=auth(tokens["access_token"]))
        assert me.json()["user_id"] == user_id
        for login in (data["phone"], data["snils"]):
            started = await http.post(
                f"{P}/login", json={"login": login, "password": data["password"]}
            )
            assert started.status_code == 200


async def test_unknown_login_and_wrong_password_look_and_cost_the_same(
    identity: Identity, ip: str
) -> None:
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        before = identity.passwords.verifications
        unknown = await http.post(
            f"{P}/login", json={"login": "nobody@example.ru", "password": "Что-то-длинное-1"}
        )
        after_unknown = identity.passwords.verifications
        wrong = await http.post(
            f"{P}/login", json={"login": data["email"], "password": "Что-то-длинное-1"}
        )
        after_wrong = identity.passwords.verifications
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert after_unknown - before == 1
    assert after_wrong - after_unknown == 1


async def test_repeated_failures_lock_a_login_known_or_not(identity: Identity, ip: str) -> None:
    threshold = identity.settings.lockout_threshold
    async with identity.client(ip) as http:
        data, user_id = await ready_citizen(identity, http)
        for login in (data["email"], "ghost@example.ru"):
            answers = [
                (
                    await http.post(
                        f"{P}/login", json={"login": login, "password": "Неверный-пароль-1"}
                    )
                ).status_code
                for _ in range(threshold)
            ]
            assert answers == [401] * threshold
            locked = await http.post(
                f"{P}/login", json={"login": login, "password": data["password"]}
            )
            assert locked.status_code == 429, login
            assert int(locked.headers["Retry-After"]) > 60
            assert "заблокирован" in locked.json()["detail"]
    stored = await identity.service.users.get(user_id)
    assert stored is not None
    assert stored.locked_until is not None
    locked_events = await _events_of(identity, "emk.identity.AccountLocked.v1")
    assert user_id in {e["data"]["user_id"] for e in locked_events}
    # Only real accounts have lock events: the unknown login left no trace on the topic.


async def _events_of(identity: Identity, event_type: str) -> list[dict[str, Any]]:
    """The events of one type on emk.identity, read from Kafka itself."""
    settings = identity.settings
    consumer = AIOKafkaConsumer(
        "emk.identity",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
    )
    async with asyncio.timeout(10):
        await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def wanted() -> list[dict[str, Any]]:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    event = json.loads(record.value)
                    if event["type"] == event_type:
                        found.append(event)
            return found

        await eventually(wanted, within=20, what=event_type)
    finally:
        async with asyncio.timeout(10):
            await consumer.stop()
    return found


async def test_a_wrong_second_factor_counts_and_five_end_the_challenge(
    identity: Identity, ip: str
) -> None:
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        started = (
            await http.post(
                f"{P}/login", json={"login": data["email"], "password": data["password"]}
            )
        ).json()
        right = identity.courier.last_code(data["phone"])
        wrong = "000000" if right != "000000" else "111111"
        statuses = [
            (
                await http.post(
                    f"{P}/login/verify",
                    json={"challenge_id": started["challenge_id"], "code": wrong},
                )
            ).status_code
            for _ in range(5)
        ]
        late = await http.post(
            f"{P}/login/verify", json={"challenge_id": started["challenge_id"], "code": right}
        )
    assert statuses == [422] * 4 + [401]
    assert late.status_code == 401


async def test_a_totp_app_replaces_the_sms_code(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        tokens = await sign_in(identity, http, data)
        enrolled = (await http.post(f"{P}/me/totp", headers=auth(tokens["access_token"]))).json()
        assert enrolled["otpauth_uri"].startswith("otpauth://totp/")
        bad = await http.post(
            f"{P}/me/totp/confirm", headers=auth(tokens["access_token"]), json={"code": "000000"}
        )
        assert bad.status_code == 422
        now = time.time()
        confirm_code = totp.code_at(enrolled["secret"], now)
        confirmed = await http.post(
            f"{P}/me/totp/confirm",
            headers=auth(tokens["access_token"]),
            json={"code": confirm_code},
        )
        assert confirmed.status_code == 204, confirmed.text

        sms_before = len(identity.courier.sent)
        started = (
            await http.post(
                f"{P}/login", json={"login": data["email"], "password": data["password"]}
            )
        ).json()
        assert started["channel"] == "totp"
        assert len(identity.courier.sent) == sms_before  # no code was sent
        replay = await http.post(
            f"{P}/login/verify",
            json={"challenge_id": started["challenge_id"], "code": confirm_code},
        )
        assert replay.status_code == 422  # a used step is not accepted twice
        fresh = totp.code_at(enrolled["secret"], now + 30)
        verified = await http.post(
            f"{P}/login/verify", json={"challenge_id": started["challenge_id"], "code": fresh}
        )
        assert verified.status_code == 200, verified.text


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["role"] = "admin"
    return f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"


def _alg_none(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _foreign_key(token: str) -> str:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
    )


async def test_tampered_tokens_are_refused(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        token = (await sign_in(identity, http, data))["access_token"]
        keys = identity.service.keys
        claims = jwt.decode(token, options={"verify_signature": False})
        expired = await keys.sign(
            {**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600}
        )
        unknown_kid = jwt.encode(
            claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "nobody"}
        )
        forged = {
            "altered payload": _tampered(token),
            "alg none": _alg_none(token),
            "wrong key": _foreign_key(token),
            "expired": expired,
            "unknown kid": unknown_kid,
            "garbage": "not.a.token",
        }
        assert (await http.get(f"{P}/me", headers=auth(token))).status_code == 200
        for name, bad in forged.items():
            answer = await http.get(f"{P}/me", headers=auth(bad))
            assert answer.status_code == 401, name
            assert answer.headers["content-type"] == "application/problem+json", name
        assert (await http.get(f"{P}/me")).status_code == 401


async def test_key_rotation_logs_nobody_out(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        old = (await sign_in(identity, http, data))["access_token"]
        keys = identity.service.keys
        new_kid = await keys.rotate()
        jwks = (await http.get("/.well-known/jwks.json")).json()
        kids = [k["kid"] for k in jwks["keys"]]
        assert new_kid in kids
        assert jwt.get_unverified_header(old)["kid"] in kids
        assert (await http.get(f"{P}/me", headers=auth(old))).status_code == 200
        new = (await sign_in(identity, http, data))["access_token"]
        assert jwt.get_unverified_header(new)["kid"] == new_kid


async def test_personal_data_waits_for_confirmed_contacts_and_names_every_wrong_field(
    identity: Identity, ip: str
) -> None:
    async with identity.client(ip) as http:
        data = person()
        await http.post(f"{P}/register", json=data)
        early = await sign_in(identity, http, data)
        body = {
            "passport": {"series": "45", "number": "12345x", "issued_at": "2000-01-01",
                         "issued_by": "ОВД", "division_code": "770001"},
            "birth_place": "г. Москва",
            "registration_address": {
                "region_code": "80", "locality": "г. Москва", "street": "", "house": "7",
            },
            "oms_policy": "7700000000000001",
            "inn": "500100732258",
        }  # fmt: skip
        blocked = await http.put(
            f"{P}/me/personal-data", headers=auth(early["access_token"]), json=body
        )
        assert blocked.status_code == 409

        ready, _ = await ready_citizen(identity, http)
        tokens = await sign_in(identity, http, ready)
        answer = await http.put(
            f"{P}/me/personal-data", headers=auth(tokens["access_token"]), json=body
        )
    assert answer.status_code == 422
    named = {e["field"]: e["code"] for e in answer.json()["errors"]}
    assert named["passport.series"] == "format"
    assert named["passport.number"] == "format"
    assert named["passport.issued_at"] == "too_young"  # born 1992: the passport is from age 7
    assert named["registration_address.region_code"] == "unknown_region"
    assert named["registration_address.street"] == "missing"
    assert named["oms_policy"] == "checksum"
    assert named["inn"] == "checksum"


async def test_staff_creation_needs_an_admin(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        tokens = await sign_in(identity, http, data)
        answer = await http.post(f"{P}/staff", headers=auth(tokens["access_token"]), json={})
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("number", "code"), [("000001", "registry_mismatch"), ("999999", "registry_invalid")]
)
async def test_personal_data_is_checked_against_the_registry(
    identity: Identity, ip: str, number: str, code: str
) -> None:
    """deploy/local/registries/passports.json lists 4509 000001 as Петров П. П. and 4509 999999
    as invalid; this citizen is Петрова А. И."""
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        tokens = await sign_in(identity, http, data)
        body = {
            "passport": {"series": "4509", "number": number, "issued_at": "2012-03-01",
                         "issued_by": "ОВД района Арбат г. Москвы", "division_code": "770-002"},
            "birth_place": "г. Москва",
            "registration_address": {
                "region_code": "77", "locality": "г. Москва", "street": "ул. Арбат", "house": "1",
            },
        }  # fmt: skip
        answer = await http.put(
            f"{P}/me/personal-data", headers=auth(tokens["access_token"]), json=body
        )
        me = await http.get(f"{P}/me", headers=auth(tokens["access_token"]))
    assert answer.status_code == 422
    assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [("passport.number", code)]
    assert me.json()["status"] == "pending_personal_data"


async def test_made_up_key_ids_do_not_each_cost_a_database_read(
    identity: Identity, ip: str
) -> None:
    keys = identity.service.keys
    assert isinstance(keys, SigningKeys)
    await keys.reload()
    loaded_at = keys._loaded_at
    for n in range(50):
        assert await keys.key(f"invented-{n}") is None
    assert keys._loaded_at == loaded_at  # no reload within the interval


async def test_wrong_codes_sent_at_once_each_count_and_then_the_right_one_is_refused(
    identity: Identity, ip: str
) -> None:
    """40 wrong codes at once to one challenge: each takes its own try (a read-then-write
    counter once let them all pass as one), so the right code after them no longer works."""
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        started = (
            await http.post(
                f"{P}/login", json={"login": data["email"], "password": data["password"]}
            )
        ).json()
        right = identity.courier.last_code(data["phone"])
        wrong = "000000" if right != "000000" else "111111"
        attempt = {"challenge_id": started["challenge_id"], "code": wrong}
        answers = await asyncio.gather(
            *(http.post(f"{P}/login/verify", json=attempt) for _ in range(40))
        )
        late = await http.post(
            f"{P}/login/verify", json={"challenge_id": started["challenge_id"], "code": right}
        )
    statuses = [answer.status_code for answer in answers]
    # Exactly the first four told to try again, however the reads interleave (each try learns
    # the count it made, not the one it reads back); every other one refused as spent.
    assert set(statuses) == {401, 422}
    assert statuses.count(422) == 4
    told = sorted(a.json()["errors"][0]["message"] for a in answers if a.status_code == 422)
    assert told == [f"Неверный код. Осталось попыток: {n}." for n in (1, 2, 3, 4)]
    challenges = identity.app.state.runtime.db["challenges"]
    stored = await challenges.find_one({"_id": started["challenge_id"]})
    assert stored is not None
    assert stored["attempts"] == 5  # exactly the five tries a challenge has, not one more
    assert late.status_code == 401


async def test_the_lock_is_the_accounts_however_its_login_is_spelled(
    identity: Identity, ip: str
) -> None:
    """Wrong passwords under three spellings of one phone lock the account: the right password
    then fails under a fourth spelling and under the e-mail too."""
    threshold = identity.settings.lockout_threshold
    async with identity.client(ip) as http:
        data, _ = await ready_citizen(identity, http)
        digits = data["phone"][2:]  # +7XXXXXXXXXX → XXXXXXXXXX
        spellings = [
            f"+7 {digits[:3]} {digits[3:6]}-{digits[6:8]}-{digits[8:]}",
            f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}",
            f"8{digits}",
        ]
        for typed in (spellings * threshold)[:threshold]:
            wrong = await http.post(
                f"{P}/login", json={"login": typed, "password": "Неверный-пароль-1"}
            )
            assert wrong.status_code == 401, wrong.text
        for login in (f"+7{digits}", data["email"]):
            right = await http.post(
                f"{P}/login", json={"login": login, "password": data["password"]}
            )
            assert right.status_code == 429, (login, right.text)
            assert "заблокирован" in right.json()["detail"]


async def test_wrong_codes_across_logins_lock_the_account(identity: Identity, ip: str) -> None:
    """Each login gives five tries at its code, but logins can be started again and again:
    the account's wrong codes are counted across them, and past the threshold it is locked."""
    threshold = identity.settings.code_failures_threshold
    per_login = identity.settings.otp_max_attempts
    async with identity.client(ip) as http:
        data, user_id = await ready_citizen(identity, http)
        guesses = 0
        refused: list[int] = []
        while guesses < threshold:
            started = await http.post(
                f"{P}/login", json={"login": data["email"], "password": data["password"]}
            )
            assert started.status_code == 200, started.text
            right = identity.courier.last_code(data["phone"])
            wrong = "000000" if right != "000000" else "111111"
            for _ in range(min(per_login, threshold - guesses)):
                answer = await http.post(
                    f"{P}/login/verify",
                    json={"challenge_id": started.json()["challenge_id"], "code": wrong},
                )
                refused.append(answer.status_code)
                guesses += 1
        assert refused[-1] == 429  # the threshold's guess locked the account
        assert set(refused[:-1]) <= {401, 422}
        again = await http.post(
            f"{P}/login", json={"login": data["email"], "password": data["password"]}
        )
    assert again.status_code == 429
    assert "заблокирован" in again.json()["detail"]
    stored = await identity.service.users.get(user_id)
    assert stored is not None
    assert stored.locked_until is not None
