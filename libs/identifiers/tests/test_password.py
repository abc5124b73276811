"""Password strength."""

from __future__ import annotations

from importlib import resources

import pytest

from emk_identifiers import InvalidIdentifier, is_common_password, password_strength

EMAIL = "Ivan.Petrov@mail.ru"
PHONE = "+79991234567"
STRONG = "кот-Бегемот-примус-1931"


def refused(password: str, *, email: str | None = EMAIL, phone: str | None = PHONE) -> str:
    with pytest.raises(InvalidIdentifier) as caught:
        password_strength(password, email=email, phone=phone)
    if password:
        assert password not in caught.value.message
    assert caught.value.message.startswith("Пароль:")
    return caught.value.code


def test_strong_password_is_returned_unchanged() -> None:
    assert password_strength(STRONG, email=EMAIL, phone=PHONE) == STRONG
    assert password_strength("  with spaces around  ", email=None, phone=None) == (
        "  with spaces around  "
    )


@pytest.mark.parametrize("password", ["", "a", "Zx9!kq2#p", "короткий1"])
def test_too_short(password: str) -> None:
    assert refused(password) == "too_short"


def test_ten_characters_is_enough() -> None:
    assert password_strength("Zx9!kq2#pL", email=None, phone=None) == "Zx9!kq2#pL"


def test_too_long() -> None:
    assert refused("Zx9!kq2#pL" * 26) == "too_long"


@pytest.mark.parametrize(
    "password",
    [
        "1234567890",
        "qwertyuiop",
        "QwErTy123456",
        "password123",
        "PASSWORD1234",
        "iloveyou123",
        "1q2w3e4r5t",
        "йцукенгшщз",
        "Пароль1234",
        "парольпароль",
    ],
)
def test_common(password: str) -> None:
    assert refused(password) == "common"


def test_common_list_is_shipped() -> None:
    text = resources.files("emk_identifiers").joinpath("common_passwords.txt").read_text("utf-8")
    words = text.splitlines()
    assert 900 <= len(words) <= 1200
    assert len(set(words)) == len(words)
    for well_known in ("123456", "password", "qwerty", "12345678", "111111", "iloveyou"):
        assert well_known in words
    for variant in ("qwerty123", "пароль", "йцукен"):
        assert is_common_password(variant)
        assert is_common_password(variant.upper())


@pytest.mark.parametrize(
    "password",
    [
        "ivan.petrov-secret",  # the local part
        "My-IVAN.PETROV-pass",  # the local part, another case
        "ivan.petrov@mail.ru!",  # the whole address
        "pass-9991234567-word",  # the phone's last 10 digits
        "x79991234567x",
    ],
)
def test_contains_personal(password: str) -> None:
    assert refused(password) == "contains_personal"


def test_personal_data_is_optional_and_a_short_local_part_is_ignored() -> None:
    assert password_strength("ivan.petrov-secret", email=None, phone=None)
    # "ab" is in too many passwords to mean anything: only the whole address counts then.
    assert password_strength("about-a-cab-ride", email="ab@mail.ru", phone=None)
    assert refused("xx-ab@mail.ru-xx", email="ab@mail.ru") == "contains_personal"
    # Phone in any shape: its last 10 digits count.
    assert refused("pass-9991234567-word", phone="8 (999) 123-45-67") == "contains_personal"
    assert password_strength("pass-999123456-word", email=None, phone="+79991234567")
