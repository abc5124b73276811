"""ОМС policy number and the passport's series, number and код подразделения."""

from __future__ import annotations

import pytest

from emk_identifiers import (
    InvalidIdentifier,
    division_code,
    oms_policy,
    passport_number,
    passport_series,
)


def luhn_digit(payload: str) -> str:
    """The Luhn check digit, written out: double every second digit from the right."""
    total = 0
    for i, d in enumerate(reversed(payload)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        # 8·2→7 6 4·2=8 4 2·2=4 0 8·2→7 6 4·2=8 4 2·2=4 0 8·2→7 6 4·2=8 … = 72, so 8 makes 80.
        ("9876543210987658", "9876543210987658"),
        (" 9876 5432 1098 7658 ", "9876543210987658"),
        ("0000000000000000", "0000000000000000"),
        ("1234567890123452", "1234567890123452"),
    ],
)
def test_valid_oms_policy(raw: str, digits: str) -> None:
    assert oms_policy(raw) == digits


def test_luhn_helper_agrees_with_the_examples() -> None:
    assert luhn_digit("987654321098765") == "8"
    assert luhn_digit("123456789012345") == "2"
    for payload in ("770000000000001", "500000000000000", "999999999999999"):
        assert oms_policy(payload + luhn_digit(payload)) == payload + luhn_digit(payload)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("9876543210987650", "checksum"),
        ("9876543210987685", "checksum"),  # two neighbours swapped
        ("1234567890123456", "checksum"),
        ("987654321098765", "format"),  # 15 digits
        ("98765432109876581", "format"),  # 17 digits
        ("9876-5432-1098-7658", "format"),
        ("987654321098765O", "format"),
        ("", "format"),
    ],
)
def test_invalid_oms_policy(raw: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        oms_policy(raw)
    assert caught.value.code == code
    assert caught.value.message.startswith("Полис ОМС:")
    assert "16 цифр" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "series"), [("4509", "4509"), ("45 09", "4509"), (" 4509 ", "4509")]
)
def test_passport_series(raw: str, series: str) -> None:
    assert passport_series(raw) == series


@pytest.mark.parametrize("raw", ["", "450", "45090", "45-09", "45  09", "45a9", "４５０９"])
def test_invalid_passport_series(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        passport_series(raw)
    assert caught.value.code == "format"
    assert caught.value.message == "Серия паспорта: нужно 4 цифры, например 4509."


@pytest.mark.parametrize(("raw", "number"), [("123456", "123456"), (" 000001 ", "000001")])
def test_passport_number(raw: str, number: str) -> None:
    assert passport_number(raw) == number


@pytest.mark.parametrize("raw", ["", "12345", "1234567", "123 456", "12345б"])
def test_invalid_passport_number(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        passport_number(raw)
    assert caught.value.code == "format"
    assert "6 цифр" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "code"), [("770-001", "770-001"), ("770001", "770-001"), (" 500-102 ", "500-102")]
)
def test_division_code(raw: str, code: str) -> None:
    assert division_code(raw) == code


@pytest.mark.parametrize(
    "raw", ["", "770-01", "77-0001", "770 001", "770--001", "7700012", "770-00a"]
)
def test_invalid_division_code(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        division_code(raw)
    assert caught.value.code == "format"
    assert "NNN-NNN" in caught.value.message
