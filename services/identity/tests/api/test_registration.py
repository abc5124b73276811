"""Registration and contact confirmation: every bad input is a 422 naming its field."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from emk_common import catalog
from emk_testing import TopicTap

from .conftest import Identity, new_ip, person

REGISTER = "/api/v1/identity/register"
VERIFY = "/api/v1/identity/contacts/verify"
RESEND = "/api/v1/identity/contacts/resend"


def fields(problem: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["code"] for e in problem["errors"]}


async def test_every_wrong_field_is_named_in_one_answer(identity: Identity, ip: str) -> None:
    bad = person(
        last_name="Иванoв",  # a Latin "o"
        first_name="Анна1",
        birth_date="2090-01-01",
        phone="+1 555 123 4567",
        email="someone@mailinator.com",
        snils="112-233-445 96",
        password="qwerty",
    )
    async with identity.client(ip) as http:
        response = await http.post(REGISTER, json=bad)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert fields(problem) == {
        "last_name": "latin_letters",
        "first_name": "digits",
        "birth_date": "future",
        "phone": "country",
        "email": "disposable",
        "snils": "checksum",
        "password": "too_short",
    }
    assert all(any("а" <= c <= "я" for c in e["message"].lower()) for e in problem["errors"])


async def test_missing_and_mistyped_fields_are_named(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        response = await http.post(
            REGISTER, json={"last_name": "Петрова", "birth_date": "17.05.1990", "sex": "X"}
        )
    assert response.status_code == 422
    named = fields(response.json())
    assert {"first_name", "phone", "email", "password", "snils", "birth_date", "sex"} <= set(named)
    assert named["first_name"] == "missing"


async def test_a_password_with_the_email_or_phone_in_it_is_refused(
    identity: Identity, ip: str
) -> None:
    data = person()
    data["password"] = data["email"].split("@")[0] + "-Зима-2026"
    async with identity.client(ip) as http:
        response = await http.post(REGISTER, json=data)
    assert fields(response.json()) == {"password": "contains_personal"}


async def test_a_registration_with_taken_logins_answers_byte_for_byte_as_a_new_one(
    identity: Identity, ip: str, kafka_bootstrap: str
) -> None:
    """No account oracle: a registration with someone's phone and СНИЛС gets the answer a new
    one gets, byte for byte but for its id; the owner is told on the topic (kinds only)."""
    first = person()
    async with TopicTap(kafka_bootstrap, catalog.IDENTITY, start="latest") as tap:
        async with identity.client(ip) as http:
            made = await http.post(REGISTER, json=first)
            owner = made.json()["user_id"]
            fresh = await http.post(REGISTER, json=person())
            taken = await http.post(
                REGISTER, json=person(phone=first["phone"], snils=first["snils"])
            )
        told = await tap.wait(owner, "RegistrationAttempted")
    assert (fresh.status_code, taken.status_code) == (201, 201)
    fresh_id, taken_id = fresh.json()["user_id"], taken.json()["user_id"]
    assert len(taken_id) == len(fresh_id)
    assert taken.content.replace(taken_id.encode(), fresh_id.encode()) == fresh.content
    varying = {"x-request-id", "date"}
    assert {k: v for k, v in taken.headers.items() if k not in varying} == {
        k: v for k, v in fresh.headers.items() if k not in varying
    }
    assert [e.data for e in told] == [{"user_id": owner, "logins": ["phone", "snils"]}]
    assert first["phone"] not in str(told)
    assert first["snils"] not in str(told)
    users = identity.app.state.runtime.db["users"]
    assert await users.find_one({"_id": taken_id}) is None  # no second account


async def test_a_ghost_registrations_codes_are_refused_like_unreceived_ones(
    identity: Identity, ip: str
) -> None:
    first = person()
    async with identity.client(ip) as http:
        assert (await http.post(REGISTER, json=first)).status_code == 201
        real_id = (await http.post(REGISTER, json=person())).json()["user_id"]
        ghost_id = (await http.post(REGISTER, json=person(email=first["email"]))).json()["user_id"]
        answers = {}
        for name, user_id in (("real", real_id), ("ghost", ghost_id)):
            attempt = {"user_id": user_id, "channel": "email", "code": "000000"}
            tries = [await http.post(VERIFY, json=attempt) for _ in range(6)]
            resent = await http.post(RESEND, json={"user_id": user_id, "channel": "sms"})
            # The cooldown's seconds left depend on the wall clock: its status and type only.
            answers[name] = [(a.status_code, a.content) for a in tries] + [
                (resent.status_code, resent.json()["type"].encode())
            ]
    assert answers["ghost"] == answers["real"]  # tries counted down, spent, resend cooldown
    assert answers["ghost"][-1][0] == 429


async def test_an_account_left_unconfirmed_is_deleted_after_a_week(
    identity: Identity, ip: str
) -> None:
    """Its logins are not held forever by a typo or a squatter: MongoDB deletes it (a TTL
    index on ``unconfirmed_until``), unless both contacts are confirmed in time."""
    data = person()
    async with identity.client(ip) as http:
        made = await http.post(REGISTER, json=data)
        user_id = made.json()["user_id"]
        users = identity.app.state.runtime.db["users"]
        stored = await users.find_one({"_id": user_id})
        assert stored is not None
        assert stored["unconfirmed_until"] - stored["created_at"] == timedelta(days=7)
        indexes = await users.index_information()
        assert indexes["unconfirmed_expiry"]["expireAfterSeconds"] == 0
        for channel, to in (("sms", data["phone"]), ("email", data["email"])):
            code = identity.courier.last_code(to)
            body = {"user_id": user_id, "channel": channel, "code": code}
            assert (await http.post(VERIFY, json=body)).status_code == 200
    confirmed = await users.find_one({"_id": user_id})
    assert confirmed is not None
    assert "unconfirmed_until" not in confirmed


async def test_contacts_are_confirmed_by_their_codes(identity: Identity, ip: str) -> None:
    data = person()
    async with identity.client(ip) as http:
        user_id = (await http.post(REGISTER, json=data)).json()["user_id"]
        sms = identity.courier.last_code(data["phone"])
        mail = identity.courier.last_code(data["email"])
        assert {s.destination for s in identity.courier.sent[-2:]} == {data["phone"], data["email"]}

        one = await http.post(VERIFY, json={"user_id": user_id, "channel": "sms", "code": sms})
        assert one.json()["status"] == "pending_contacts"
        two = await http.post(VERIFY, json={"user_id": user_id, "channel": "email", "code": mail})
        assert two.json() == {
            "status": "pending_personal_data",
            "status_label": "Заполните персональные данные",
        }


async def test_the_right_code_sent_twice_at_once_confirms_once(identity: Identity, ip: str) -> None:
    data = person()
    async with identity.client(ip) as http:
        user_id = (await http.post(REGISTER, json=data)).json()["user_id"]
        right = {
            "user_id": user_id,
            "channel": "sms",
            "code": identity.courier.last_code(data["phone"]),
        }
        answers = await asyncio.gather(*(http.post(VERIFY, json=right) for _ in range(4)))
    assert [answer.status_code for answer in answers] == [200] * 4
    assert {answer.json()["status"] for answer in answers} == {"pending_contacts"}
    stored = await identity.app.state.runtime.db["users"].find_one({"_id": user_id})
    assert stored is not None
    assert stored["contacts"]["sms"] == {"verified": True, "code": None}


async def test_five_wrong_codes_burn_the_code_and_the_right_one_no_longer_works(
    identity: Identity, ip: str
) -> None:
    data = person()
    async with identity.client(ip) as http:
        user_id = (await http.post(REGISTER, json=data)).json()["user_id"]
        right = identity.courier.last_code(data["phone"])
        wrong = "000000" if right != "000000" else "111111"
        codes = []
        for _ in range(5):
            answer = await http.post(
                VERIFY, json={"user_id": user_id, "channel": "sms", "code": wrong}
            )
            codes.append(fields(answer.json())["code"])
        late = await http.post(VERIFY, json={"user_id": user_id, "channel": "sms", "code": right})
    assert codes == ["wrong_code"] * 4 + ["exhausted"]
    assert late.status_code == 422
    assert fields(late.json()) == {"code": "exhausted"}


async def test_wrong_codes_sent_at_once_each_count_and_then_the_right_one_is_refused(
    identity: Identity, ip: str
) -> None:
    """20 wrong contact codes at once: each takes its own try (a version-checked write of the
    count once lost every race but one, silently), so the right code after them is dead."""
    data = person()
    async with identity.client(ip) as http:
        user_id = (await http.post(REGISTER, json=data)).json()["user_id"]
        right = identity.courier.last_code(data["phone"])
        wrong = "000000" if right != "000000" else "111111"
        attempt = {"user_id": user_id, "channel": "sms", "code": wrong}
        answers = await asyncio.gather(*(http.post(VERIFY, json=attempt) for _ in range(20)))
        late = await http.post(VERIFY, json={"user_id": user_id, "channel": "sms", "code": right})
    assert {answer.status_code for answer in answers} == {422}
    codes = [fields(answer.json())["code"] for answer in answers]
    assert codes.count("wrong_code") == 4
    assert codes.count("exhausted") == 16
    told = sorted(
        answer.json()["errors"][0]["message"]
        for answer in answers
        if fields(answer.json())["code"] == "wrong_code"
    )
    assert told == [f"Неверный код. Осталось попыток: {n}." for n in (1, 2, 3, 4)]
    assert fields(late.json()) == {"code": "exhausted"}
    stored = await identity.app.state.runtime.db["users"].find_one({"_id": user_id})
    assert stored is not None
    assert stored["contacts"]["sms"]["code"]["attempts"] == 5  # five tries, not one more
    assert stored["contacts"]["sms"]["verified"] is False


async def test_a_new_code_waits_for_the_cooldown(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        data = person()
        user_id = (await http.post(REGISTER, json=data)).json()["user_id"]
        response = await http.post(RESEND, json={"user_id": user_id, "channel": "sms"})
    assert response.status_code == 429
    assert 55 <= int(response.headers["Retry-After"]) <= 60


async def test_an_unknown_account_is_not_found(identity: Identity, ip: str) -> None:
    async with identity.client(ip) as http:
        response = await http.post(
            VERIFY, json={"user_id": "nobody", "channel": "sms", "code": "123456"}
        )
    assert response.status_code == 404


async def test_registration_is_rate_limited_per_client_address(identity: Identity, ip: str) -> None:
    limit = identity.settings.register_per_ip_per_hour
    async with identity.client(ip) as http:
        statuses = [
            (await http.post(REGISTER, json={"last_name": "x"})).status_code
            for _ in range(limit + 1)
        ]
    assert statuses[:limit] == [422] * limit
    assert statuses[-1] == 429


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(identity: Identity) -> None:
    """A client that is not our proxy cannot pick its rate-limit bucket."""
    limit = identity.settings.register_per_ip_per_hour
    statuses = []
    for _ in range(limit + 1):
        async with identity.client(ip=new_ip(), peer="198.51.100.77") as http:
            statuses.append((await http.post(REGISTER, json={"last_name": "x"})).status_code)
    assert statuses[-1] == 429


async def test_code_attempts_are_limited_per_account_across_addresses(identity: Identity) -> None:
    """Changing address does not buy more guesses at one account's codes."""
    limit = identity.settings.verify_per_account_per_hour
    data = person()
    async with identity.client(new_ip()) as http:
        user_id = (await http.post(REGISTER, json=data)).json()["user_id"]
    statuses = []
    for _ in range(limit + 1):
        async with identity.client(new_ip()) as http:
            guess = {"user_id": user_id, "channel": "email", "code": "000000"}
            statuses.append((await http.post(VERIFY, json=guess)).status_code)
    assert set(statuses[:limit]) == {422}
    assert statuses[-1] == 429
