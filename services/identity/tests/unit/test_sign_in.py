"""Signing in on fakes of the ports and of the store: the password (same answer, same work
and a lock for unknown logins and wrong passwords), the second factor (a sent code or the
authenticator app), tokens, refresh and logout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emk_common import catalog
from emk_common.problems import Problem
from emk_testing import FakeClock
from identity.domain import totp
from identity.domain.user import User

from .fakes import Rig, commands, decoded, rig
from .people import PASSWORD, STAFF_PASSWORD, phone_of, ready, signed_in, staff_entry

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WRONG_CREDENTIALS = "Неверный логин или пароль."


@pytest.fixture
def r() -> Rig:
    return rig(FakeClock(NOW))


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def app_code(r: Rig, secret: str) -> str:
    return totp.code_at(secret, r.clock().timestamp())


# --- the password -------------------------------------------------------------------------


async def test_a_citizen_signs_in_by_phone_email_or_snils_then_an_sms_code(r: Rig) -> None:
    user = await ready(r)
    assert user.person.snils is not None
    snils = f"{user.person.snils[:3]}-{user.person.snils[3:6]}-{user.person.snils[6:9]} "
    snils += user.person.snils[9:]
    for login in (phone_of(user), user.person.email.upper(), snils):
        challenge = await r.identity.login(login, PASSWORD)
        assert (challenge.user_id, challenge.channel) == (user.id, "sms")
        assert challenge.expires_at == NOW + timedelta(minutes=5)
        sent = r.courier.sent[-1]
        assert (sent.destination, sent.purpose) == (phone_of(user), "login")
        [command] = commands(r.store.challenges.outbox[-1:])
        assert command.subject == challenge.id
        tokens = await r.identity.verify_login(challenge.id, sent.code)
        claims = r.keys.signed[tokens.access_token]
        assert (claims["sub"], claims["role"], claims["auth_time"]) == (
            user.id,
            "citizen",
            int(NOW.timestamp()),
        )
        assert claims["exp"] - claims["iat"] == tokens.expires_in == 900
        assert "org" not in claims
        assert await r.identity.session_active(claims["sid"])


async def test_an_unknown_login_and_a_wrong_password_look_and_cost_the_same(r: Rig) -> None:
    user = await ready(r)
    answers = []
    for login, password in (
        (user.person.email, "Неверный-пароль-1"),
        ("nobody@example.ru", PASSWORD),
        ("not a login at all", PASSWORD),
    ):
        before = r.passwords.verifications
        with pytest.raises(Problem) as caught:
            await r.identity.login(login, password)
        assert r.passwords.verifications == before + 1
        answers.append((caught.value.status, caught.value.detail))
    assert answers == [(401, WRONG_CREDENTIALS)] * 3
    assert r.store.challenges.challenges == {}


async def test_failures_lock_a_login_known_or_not_and_the_lock_ends(r: Rig) -> None:
    user = await ready(r)
    events = len(r.events)
    for login in (user.person.email, "nobody@example.ru"):
        for _ in range(3):  # the threshold
            with pytest.raises(Problem) as failed:
                await r.identity.login(login, "Неверный-пароль-1")
            assert failed.value.status == 401
        with pytest.raises(Problem) as locked:
            await r.identity.login(login, PASSWORD)  # even the right password
        assert locked.value.status == 429
        assert locked.value.headers["Retry-After"] == "900"
        assert "заблокирован" in locked.value.detail
    until = NOW + timedelta(minutes=15)
    assert r.store.users.users[user.id].locked_until == until
    # Only the real account is announced: the unknown login leaves no trace.
    assert r.events[events:] == [
        catalog.AccountLocked(user_id=user.id, until=until, reason="password_failures")
    ]
    # The lock is the account's: the same person by another login is locked out too.
    with pytest.raises(Problem) as by_phone:
        await r.identity.login(phone_of(user), PASSWORD)
    assert by_phone.value.status == 429
    r.clock.advance(minutes=15)
    await r.identity.login(user.person.email, PASSWORD)
    await r.identity.login(phone_of(user), PASSWORD)


async def test_a_right_password_clears_the_failures(r: Rig) -> None:
    user = await ready(r)
    for _ in range(2):
        with pytest.raises(Problem):
            await r.identity.login(user.person.email, "Неверный-пароль-1")
    await r.identity.login(user.person.email, PASSWORD)
    for _ in range(2):
        with pytest.raises(Problem) as failed:
            await r.identity.login(user.person.email, "Неверный-пароль-1")
        assert failed.value.status == 401
    assert r.store.users.users[user.id].locked_until is None


async def test_a_hash_made_with_old_parameters_is_replaced_at_login(r: Rig) -> None:
    user = await ready(r)
    r.passwords.scheme = "v2"
    await r.identity.login(user.person.email, PASSWORD)
    assert r.store.users.users[user.id].password_hash == "hashed(v2:Тёплый-дождь-в-мае-7)"
    with pytest.raises(Problem):  # a wrong password re-hashes nothing
        await r.identity.login(user.person.email, "Неверный-пароль-1")


# --- the second factor --------------------------------------------------------------------


async def test_a_wrong_code_counts_and_the_fifth_ends_the_challenge(r: Rig) -> None:
    user = await ready(r)
    challenge = await r.identity.login(user.person.email, PASSWORD)
    right = r.courier.last_code(phone_of(user))
    for remaining in (4, 3, 2, 1):
        with pytest.raises(Problem) as caught:
            await r.identity.verify_login(challenge.id, wrong(right))
        assert caught.value.status == 422
        assert [(e.field, e.code) for e in caught.value.errors] == [("code", "wrong_code")]
        assert caught.value.errors[0].message == f"Неверный код. Осталось попыток: {remaining}."
    for code in (wrong(right), right):
        with pytest.raises(Problem) as over:
            await r.identity.verify_login(challenge.id, code)
        assert over.value.status == 401
        assert "исчерпаны попытки" in over.value.detail
    assert r.store.challenges.challenges[challenge.id].attempts == 5
    assert r.keys.signed == {}


async def test_a_login_code_expires_and_a_used_challenge_is_over(r: Rig) -> None:
    user = await ready(r)
    challenge = await r.identity.login(user.person.email, PASSWORD)
    r.clock.advance(seconds=300)
    with pytest.raises(Problem) as expired:
        await r.identity.verify_login(challenge.id, r.courier.last_code(phone_of(user)))
    assert (expired.value.status, expired.value.detail) == (
        401,
        "Срок действия кода истёк. Войдите заново.",
    )
    await signed_in(r, user.person.email, PASSWORD, phone_of(user))
    [*_, done] = r.store.challenges.challenges.values()
    assert done.done
    for challenge_id in (done.id, "no-such-challenge"):
        with pytest.raises(Problem) as over:
            await r.identity.verify_login(challenge_id, r.courier.last_code(phone_of(user)))
        assert (over.value.status, over.value.detail) == (
            401,
            "Вход не начат или уже завершён. Введите логин и пароль снова.",
        )
    assert len(r.keys.signed) == 1


async def test_staff_get_their_code_by_email_and_their_organisation_in_the_token(
    r: Rig,
) -> None:
    entry = staff_entry(role="medical_worker", organization_id="1027700132195")
    staff = await r.identity.create_staff(entry, created_by="admin-1")
    challenge = await r.identity.login(staff.person.email, STAFF_PASSWORD)
    assert challenge.channel == "email"
    assert r.courier.sent[-1].destination == staff.person.email
    tokens = await r.identity.verify_login(challenge.id, r.courier.sent[-1].code)
    claims = r.keys.signed[tokens.access_token]
    assert (claims["role"], claims["org"]) == ("medical_worker", "1027700132195")


async def enrolled(r: Rig, user: User) -> str:
    secret, uri = await r.identity.start_totp(user.id)
    assert uri.startswith("otpauth://totp/")
    assert f"secret={secret}" in uri
    await r.identity.confirm_totp(user.id, app_code(r, secret))
    return secret


async def test_an_authenticator_app_is_enrolled_by_a_code_of_its_own(r: Rig) -> None:
    user = await ready(r)
    with pytest.raises(Problem) as not_started:
        await r.identity.confirm_totp(user.id, "123456")
    assert not_started.value.status == 409
    secret, _ = await r.identity.start_totp(user.id)
    assert r.store.users.users[user.id].totp_pending == secret
    with pytest.raises(Problem) as wrong_code:
        await r.identity.confirm_totp(user.id, wrong(app_code(r, secret)))
    assert [(e.field, e.code) for e in wrong_code.value.errors] == [("code", "wrong_code")]
    assert r.store.users.users[user.id].totp is None
    await r.identity.confirm_totp(user.id, app_code(r, secret))
    stored = r.store.users.users[user.id]
    assert (stored.totp_pending, stored.second_factor) == (None, "totp")
    assert r.events[-1] == catalog.TwoFactorChanged(user_id=user.id, method="totp", enabled=True)


async def test_the_app_replaces_the_sms_code_and_a_code_is_used_once(r: Rig) -> None:
    user = await ready(r)
    secret = await enrolled(r, user)
    sent = len(r.courier.sent)
    challenge = await r.identity.login(user.person.email, PASSWORD)
    assert challenge.channel == "totp"
    assert (len(r.courier.sent), r.store.challenges.challenges[challenge.id].code) == (sent, None)
    assert commands(r.store.challenges.outbox) == []
    with pytest.raises(Problem) as reused:  # the code that enrolled the app, same step
        await r.identity.verify_login(challenge.id, app_code(r, secret))
    assert reused.value.status == 422
    r.clock.advance(seconds=30)
    tokens = await r.identity.verify_login(challenge.id, app_code(r, secret))
    assert r.keys.signed[tokens.access_token]["sub"] == user.id
    stored = r.store.users.users[user.id].totp
    assert stored is not None
    assert stored.last_step == totp.step_at(r.clock().timestamp())


async def test_wrong_app_codes_count_like_sent_ones(r: Rig) -> None:
    user = await ready(r)
    secret = await enrolled(r, user)
    challenge = await r.identity.login(user.person.email, PASSWORD)
    r.clock.advance(seconds=30)
    for _ in range(4):
        with pytest.raises(Problem) as caught:
            await r.identity.verify_login(challenge.id, wrong(app_code(r, secret)))
        assert caught.value.status == 422
    with pytest.raises(Problem) as fifth:
        await r.identity.verify_login(challenge.id, wrong(app_code(r, secret)))
    assert fifth.value.status == 401
    with pytest.raises(Problem) as right:
        await r.identity.verify_login(challenge.id, app_code(r, secret))
    assert right.value.status == 401
    assert r.keys.signed == {}


# --- tokens -------------------------------------------------------------------------------


async def test_a_refresh_rotates_the_token_and_keeps_the_time_of_the_login(r: Rig) -> None:
    user = await ready(r)
    first = await signed_in(r, user.person.email, PASSWORD, phone_of(user))
    r.clock.advance(minutes=10)
    second = await r.identity.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    before, after = r.keys.signed[first.access_token], r.keys.signed[second.access_token]
    assert (after["sub"], after["sid"], after["auth_time"]) == (
        user.id,
        before["sid"],
        int(NOW.timestamp()),
    )
    assert after["iat"] == before["iat"] + 600
    third = await r.identity.refresh(second.refresh_token)
    assert r.keys.signed[third.access_token]["sid"] == before["sid"]


async def test_a_spent_refresh_token_coming_back_ends_its_whole_family(r: Rig) -> None:
    user = await ready(r)
    first = await signed_in(r, user.person.email, PASSWORD, phone_of(user))
    sid = r.keys.signed[first.access_token]["sid"]
    second = await r.identity.refresh(first.refresh_token)
    with pytest.raises(Problem) as spent:
        await r.identity.refresh(first.refresh_token)  # a copy someone kept
    assert (spent.value.status, spent.value.detail) == (401, "Сеанс завершён. Войдите снова.")
    assert not await r.identity.session_active(sid)
    with pytest.raises(Problem) as family:
        await r.identity.refresh(second.refresh_token)
    assert family.value.status == 401
    with pytest.raises(Problem) as unknown:
        await r.identity.refresh("never-issued")
    assert unknown.value.status == 401


async def test_a_session_expires_with_its_refresh_token(r: Rig) -> None:
    user = await ready(r)
    tokens = await signed_in(r, user.person.email, PASSWORD, phone_of(user))
    r.clock.advance(days=30)
    with pytest.raises(Problem) as expired:
        await r.identity.refresh(tokens.refresh_token)
    assert expired.value.status == 401
    assert not await r.identity.session_active(r.keys.signed[tokens.access_token]["sid"])


async def test_logout_ends_one_session_of_its_own_user_only(r: Rig) -> None:
    user = await ready(r)
    mine, other = [
        await signed_in(r, user.person.email, PASSWORD, phone_of(user)) for _ in range(2)
    ]
    sid = r.keys.signed[mine.access_token]["sid"]
    await r.identity.logout(sid, "someone-else")
    assert await r.identity.session_active(sid)
    await r.identity.logout(sid, user.id)
    await r.identity.logout(None, user.id)  # a token without a session: nothing to end
    assert not await r.identity.session_active(sid)
    assert not await r.identity.session_active(None)
    with pytest.raises(Problem) as ended:
        await r.identity.refresh(mine.refresh_token)
    assert ended.value.status == 401
    assert await r.identity.session_active(r.keys.signed[other.access_token]["sid"])
    await r.identity.refresh(other.refresh_token)
    # Signing in stages no account event: only the codes' commands.
    assert decoded(r.store.challenges.outbox) == []
