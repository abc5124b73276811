from __future__ import annotations

import pytest

from emk_identifiers import InvalidIdentifier, format_snils, mask_snils, snils, snils_check_number


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        # DOMAIN.md's example: 1·9+1·8+2·7+2·6+3·5+3·4+4·3+4·2+5·1 = 95 < 100 → 95.
        ("112-233-445 95", "11223344595"),
        ("112-233-445-95", "11223344595"),
        ("11223344595", "11223344595"),
        ("  112-233-445 95 \t", "11223344595"),
        # 9·9+1·8+0·7+1·6+1·5 = 100 → 00.
        ("910-110-000 00", "91011000000"),
        # 9·9+1·8+1·7+0·6+1·5 = 101 → 00.
        ("911-010-000 00", "91101000000"),
        # 1·9+2·8+3·7+4·6+5·5+6·4+7·3+8·2+9·1 = 165 > 101 → 165 mod 101 = 64.
        ("123-456-789 64", "12345678964"),
        # 9·9+9·8+6·7+1·6 = 201 > 101 → 201 mod 101 = 100 → 00.
        ("996-100-000 00", "99610000000"),
        # Up to 001-001-998 the check number is not checked at all.
        ("001-001-998 00", "00100199800"),
        ("001-001-998 99", "00100199899"),
        ("000-000-001 42", "00000000142"),
        # 001-001-999 is the first checked number: 1·7+1·4+9·3+9·2+9·1 = 65.
        ("001-001-999 65", "00100199965"),
    ],
)
def test_valid_snils_is_normalised_to_11_digits(raw: str, digits: str) -> None:
    assert snils(raw) == digits


@pytest.mark.parametrize(
    "raw",
    [
        "112-233-445 96",  # the check number changed
        "112-233-446 95",  # a digit of the number changed (sum 96)
        "212-233-445 95",  # the first digit changed (sum 104 → 3)
        "910-110-000 100",  # a check number of 100 is written 00, not 100
        "910-110-000 01",
        "911-010-000 01",
        "123-456-789 65",
        "996-100-000 01",
        "001-001-999 00",  # above 001-001-998: checked
    ],
)
def test_wrong_check_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        snils(raw)
    if len(raw.replace("-", "").replace(" ", "")) == 11:
        assert caught.value.code == "checksum"
        assert caught.value.message == (
            "СНИЛС: неверное контрольное число. Проверьте номер — 11 цифр, например 112-233-445 95."
        )


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "1122334459",  # 10 digits
        "112233445951",  # 12 digits
        "112 233 445 95",  # spaces are not one of the accepted shapes
        "112-233-44595",
        "112233445 95",
        "112-233-445 9a",
        "112-233-445  95",
        "١١٢٢٣٣٤٤٥٩٥",  # Arabic-Indic digits are not 0-9
        "112-233-445 95 6",
    ],
)
def test_other_shapes_are_a_format_error(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        snils(raw)
    assert caught.value.code == "format"
    assert "11 цифр" in caught.value.message
    assert "112-233-445 95" in caught.value.message


@pytest.mark.parametrize(
    ("first_nine", "check"),
    [("112233445", 95), ("910110000", 0), ("911010000", 0), ("123456789", 64), ("996100000", 0)],
)
def test_check_number(first_nine: str, check: int) -> None:
    assert snils_check_number(first_nine) == check


def test_check_number_of_every_sum_branch() -> None:
    # The sum ranges over 0..405; each branch of the rule, checked against a direct encoding.
    def rule(total: int) -> int:
        if total < 100:
            return total
        if total in (100, 101):
            return 0
        rest = total % 101
        return 0 if rest == 100 else rest

    for n in range(0, 1_000_000_000, 999_983):
        nine = f"{n:09d}"
        total = sum(int(d) * (9 - i) for i, d in enumerate(nine))
        assert snils_check_number(nine) == rule(total)


def test_format_and_mask() -> None:
    assert format_snils("11223344595") == "112-233-445 95"
    assert mask_snils("11223344595") == "***-***-445 95"
    with pytest.raises(InvalidIdentifier):
        format_snils("112-233-445 95")
    with pytest.raises(InvalidIdentifier):
        mask_snils("1122334459")
