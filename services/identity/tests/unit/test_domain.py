"""Identity's pure rules: one-time codes, TOTP, passwords, logins, statuses, masks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from identity.domain import totp
from identity.domain.logins import login_candidates, mask_email, mask_phone, mask_snils
from identity.domain.otp import OneTimeCode, Verdict, new_code
from identity.domain.user import Status, status_after_contacts

KEY = b"k" * 32
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)


def issue(code: str = "123456") -> OneTimeCode:
    return OneTimeCode.issue(code, key=KEY, context="u1:sms", now=NOW, ttl=TTL)


def test_a_code_is_six_digits_and_stored_only_as_a_keyed_hash() -> None:
    code = new_code()
    assert len(code) == 6
    assert code.isdigit()
    stored = issue(code)
    assert code not in stored.code_hash
    other_key = OneTimeCode.issue(code, key=b"x" * 32, context="u1:sms", now=NOW, ttl=TTL)
    assert other_key.code_hash != stored.code_hash


def test_the_right_code_in_time_is_accepted_once() -> None:
    verdict, after = issue().check("123456", key=KEY, context="u1:sms", now=NOW, max_attempts=5)
    assert verdict is Verdict.ACCEPTED
    assert (
        after.check("123456", key=KEY, context="u1:sms", now=NOW, max_attempts=5)[0]
        is Verdict.EXHAUSTED
    )


def test_a_code_for_another_challenge_is_wrong() -> None:
    verdict, _ = issue().check("123456", key=KEY, context="u2:sms", now=NOW, max_attempts=5)
    assert verdict is Verdict.WRONG


def test_a_code_expires_after_five_minutes() -> None:
    code = issue()
    late = NOW + TTL
    assert (
        code.check(
            "123456", key=KEY, context="u1:sms", now=late - timedelta(seconds=1), max_attempts=5
        )[0]
        is Verdict.ACCEPTED
    )
    assert (
        code.check("123456", key=KEY, context="u1:sms", now=late, max_attempts=5)[0]
        is Verdict.EXPIRED
    )


def test_five_wrong_tries_burn_the_code() -> None:
    code = issue()
    verdicts = []
    for _ in range(5):
        verdict, code = code.check("000000", key=KEY, context="u1:sms", now=NOW, max_attempts=5)
        verdicts.append(verdict)
    assert verdicts == [Verdict.WRONG] * 4 + [Verdict.EXHAUSTED]
    assert (
        code.check("123456", key=KEY, context="u1:sms", now=NOW, max_attempts=5)[0]
        is Verdict.EXHAUSTED
    )


def test_resend_waits_for_the_cooldown() -> None:
    code = issue()
    cooldown = timedelta(seconds=60)
    assert code.resend_wait(now=NOW + timedelta(seconds=20), cooldown=cooldown) == 40
    assert code.resend_wait(now=NOW + timedelta(seconds=60), cooldown=cooldown) == 0


RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("unix_time", "eight_digits"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
    ],
)
def test_totp_matches_the_rfc_6238_vectors(unix_time: int, eight_digits: str) -> None:
    key = base64.b32decode(RFC_SECRET)
    assert totp.hotp(key, totp.step_at(unix_time), digits=8) == eight_digits
    assert totp.code_at(RFC_SECRET, unix_time) == eight_digits[-6:]


def test_totp_allows_one_step_of_drift_and_no_replay() -> None:
    now = 1_700_000_000.0
    previous = totp.code_at(RFC_SECRET, now - 30)
    step = totp.matching_step(RFC_SECRET, previous, unix_time=now, last_used_step=None)
    assert step == totp.step_at(now) - 1
    assert totp.matching_step(RFC_SECRET, previous, unix_time=now, last_used_step=step) is None
    too_old = totp.code_at(RFC_SECRET, now - 90)
    assert totp.matching_step(RFC_SECRET, too_old, unix_time=now, last_used_step=None) is None


def test_otpauth_uri_names_the_issuer_and_account() -> None:
    uri = totp.otpauth_uri("ABCDEF", account="ivan@example.ru")
    assert uri.startswith("otpauth://totp/")
    assert "secret=ABCDEF" in uri
    assert "ivan%40example.ru" in uri


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ivan@Example.RU", [("email", "ivan@example.ru")]),
        ("+7 (999) 123-45-67", [("phone", "+79991234567")]),
        ("112-233-445 95", [("snils", "11223344595")]),
        ("11223344595", [("snils", "11223344595")]),
        ("nonsense", []),
    ],
)
def test_a_login_is_an_email_a_phone_or_a_snils(raw: str, expected: list[tuple[str, str]]) -> None:
    assert login_candidates(raw) == expected


def test_eleven_bare_digits_may_be_a_phone_or_a_snils() -> None:
    kinds = [kind for kind, _ in login_candidates("79991234567")]
    assert "phone" in kinds


def test_both_contacts_confirmed_move_on_to_personal_data() -> None:
    assert (
        status_after_contacts({"sms": True, "email": False}, Status.PENDING_CONTACTS)
        is Status.PENDING_CONTACTS
    )
    assert (
        status_after_contacts({"sms": True, "email": True}, Status.PENDING_CONTACTS)
        is Status.PENDING_PERSONAL_DATA
    )
    assert status_after_contacts({"sms": True, "email": True}, Status.READY) is Status.READY


def test_masks_keep_only_what_identifies_for_the_owner() -> None:
    assert mask_phone("+79991234567") == "+7 999 ***-**-67"
    assert mask_email("ivanov@example.ru") == "i***@example.ru"
    assert mask_snils("11223344595") == "***-***-445 95"
