from __future__ import annotations

import importlib.util

import pytest

from emk_identifiers import (
    InnKind,
    InvalidIdentifier,
    inn,
    inn_check_digit,
    ogrn,
    ogrn_check_digit,
    ogrn_kind,
)

# --- ИНН -------------------------------------------------------------------------------

LEGAL_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
PERSON_WEIGHTS_11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
PERSON_WEIGHTS_12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def check(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 % 10)


def person_inn(first_ten: str) -> str:
    eleven = first_ten + check(first_ten, PERSON_WEIGHTS_11)
    return eleven + check(eleven, PERSON_WEIGHTS_12)


@pytest.mark.parametrize(
    ("raw", "kind", "digits"),
    [
        # Сбербанк: 7·2+7·4+0·10+7·3+0·5+8·9+3·4+8·6+9·8 = 267; 267 mod 11 = 3 → 3.
        ("7707083893", "any", "7707083893"),
        ("7707083893", "legal", "7707083893"),
        (" 7707083893 ", "legal", "7707083893"),
        # 7·2+7·4+0+7·3+0+8·9+3·4+8·6+3·8 = 219; 219 mod 11 = 10 → mod 10 → 0.
        ("7707083830", "legal", "7707083830"),
        # 11th: 5·7+0+0+1·10+0+0+7·9+3·4+2·6+2·8 = 148; 148 mod 11 = 5.
        # 12th: 5·3+0+0+1·4+0+0+7·5+3·9+2·4+2·6+5·8 = 141; 141 mod 11 = 9.
        ("500100732259", "any", "500100732259"),
        ("500100732259", "person", "500100732259"),
        # 11th: 5·7+1·10+7·9+3·4+2·6+4·8 = 164; 164 mod 11 = 10 → 0.
        # 12th: 5·3+1·4+7·5+3·9+2·4+4·6+0·8 = 113; 113 mod 11 = 3.
        ("500100732403", "person", "500100732403"),
    ],
)
def test_valid_inn(raw: str, kind: InnKind, digits: str) -> None:
    assert inn(raw, kind=kind) == digits


@pytest.mark.parametrize("first_ten", ["7736050003", "0000000001", "9909123456", "1234567890"])
def test_person_inn_built_by_the_rule_is_valid(first_ten: str) -> None:
    number = person_inn(first_ten)
    assert inn(number, kind="person") == number
    assert inn_check_digit(number[:10]) == int(number[10])
    assert inn_check_digit(number[:11]) == int(number[11])


@pytest.mark.parametrize(
    "raw",
    [
        "7707083894",  # 10th digit changed
        "7707083993",  # a digit of the number changed
        "500100732258",  # 12th digit changed
        "500100732269",  # 11th digit changed
        "600100732259",  # first digit changed
    ],
)
def test_wrong_check_digit(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        inn(raw)
    assert caught.value.code == "checksum"
    assert caught.value.message.startswith("ИНН: неверное контрольное число.")


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("", "any", "10 цифр"),
        ("770708389", "any", "10 цифр"),
        ("77070838931", "any", "12 цифр"),
        ("7707-083893", "any", "10 цифр"),
        ("77070838Э3", "any", "10 цифр"),
        ("500100732259", "legal", "ИНН организации: нужно 10 цифр"),
        ("7707083893", "person", "ИНН физического лица: нужно 12 цифр"),
    ],
)
def test_inn_format_and_kind(raw: str, kind: InnKind, expected: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        inn(raw, kind=kind)
    assert caught.value.code == "format"
    assert expected in caught.value.message


def test_inn_agrees_with_python_stdnum() -> None:
    from stdnum.ru import inn as stdnum_inn

    accepted = 0
    for n in range(500_100_730_000, 500_100_740_000, 3):
        for number in (str(n), str(n)[:10], person_inn(str(n)[:10])):
            assert stdnum_inn.is_valid(number) == _ours_accepts(number), number
            accepted += _ours_accepts(number)
    assert accepted > 3000  # both valid and invalid numbers were compared


def _ours_accepts(raw: str) -> bool:
    try:
        inn(raw)
    except InvalidIdentifier:
        return False
    return True


# --- ОГРН / ОГРНИП ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "digits", "kind"),
    [
        # Сбербанк: 102770013219 mod 11 = 5 → 5.
        ("1027700132195", "1027700132195", "ogrn"),
        (" 1027700132195 ", "1027700132195", "ogrn"),
        # 502770013219 mod 11 = 1 (the first digit 5 is allowed too).
        ("5027700132191", "5027700132191", "ogrn"),
        # 30450011600022 mod 13 = 1 → 1.
        ("304500116000221", "304500116000221", "ogrnip"),
    ],
)
def test_valid_ogrn(raw: str, digits: str, kind: str) -> None:
    assert ogrn(raw) == digits
    assert ogrn_kind(digits) == kind


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("1027700132196", "checksum"),
        ("1027700132295", "checksum"),
        ("304500116000222", "checksum"),
        ("2027700132195", "format"),  # a 13-digit ОГРН starts with 1 or 5
        ("0027700132195", "format"),
        ("404500116000221", "format"),  # a 15-digit ОГРНИП starts with 3
        ("102770013219", "format"),
        ("10277001321955", "format"),
        ("1027700132195a", "format"),
        ("", "format"),
    ],
)
def test_invalid_ogrn(raw: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        ogrn(raw)
    assert caught.value.code == code


def _first_ogrnip_with_remainder(remainder: int) -> str:
    """The first 14 digits, from 30450011600022 up, whose number mod 13 is ``remainder``."""
    n = 30450011600022
    while n % 13 != remainder:
        n += 1
    return str(n)


@pytest.mark.parametrize(("remainder", "check_digit"), [(10, 0), (11, 1), (12, 2)])
def test_ogrnip_whose_remainder_is_two_digits_is_accepted(remainder: int, check_digit: int) -> None:
    # The check digit is (first 14) mod 13 mod 10: a remainder of 10, 11 or 12 gives 0, 1, 2.
    leading = _first_ogrnip_with_remainder(remainder)
    assert int(leading) % 13 == remainder
    number = leading + str(check_digit)
    assert ogrn_check_digit(leading) == check_digit
    assert ogrn(number) == number
    assert ogrn_kind(number) == "ogrnip"
    # The same number with the remainder itself as its "check digit" does not exist: 16 digits.
    with pytest.raises(InvalidIdentifier):
        ogrn(leading + str(remainder))

    if importlib.util.find_spec("stdnum") is not None:
        # python-stdnum 2.2 computes str(first 14 mod 13) = "10" / "11" / "12", never equal to
        # the one check digit, and so refuses this valid ОГРНИП: why ogrn() does not use it.
        from stdnum.ru import ogrn as stdnum_ogrn

        assert not stdnum_ogrn.is_valid(number)


def test_ogrn_kind_refuses_other_lengths() -> None:
    with pytest.raises(InvalidIdentifier):
        ogrn_kind("12345")
