"""ОГРН and ОГРНИП: the state registration numbers of an organisation / an entrepreneur.

python-stdnum 2.2 is deliberately not used here: its ``ru.ogrn`` computes the ОГРНИП check
digit as (first 14) mod 13 without the final mod 10, so every ОГРНИП whose remainder is
10, 11 or 12 (check digit 0, 1 or 2) is refused — about a quarter of the valid ones.
"""

from __future__ import annotations

from typing import Literal

from emk_identifiers._common import is_ascii_digits, strip
from emk_identifiers._errors import InvalidIdentifier

__all__ = ["OgrnKind", "ogrn", "ogrn_check_digit", "ogrn_kind"]

OgrnKind = Literal["ogrn", "ogrnip"]

_FORMAT = (
    "ОГРН: нужно 13 цифр (организация, первая цифра 1 или 5, например 1027700132195) "
    "или 15 цифр (ОГРНИП индивидуального предпринимателя, первая цифра 3)."
)
_FIRST_OGRN = "ОГРН: 13-значный номер начинается с 1 или 5, например 1027700132195."
_FIRST_OGRNIP = "ОГРНИП: 15-значный номер начинается с 3, например 304500116000221."
_CHECKSUM = {
    13: "ОГРН: неверное контрольное число. Проверьте номер — 13 цифр, например 1027700132195.",
    15: "ОГРНИП: неверное контрольное число. Проверьте номер — 15 цифр, например 304500116000221.",
}


def ogrn_check_digit(leading: str) -> int:
    """The check digit for the leading digits of an ОГРН (12) or ОГРНИП (14).

    Rule: ОГРН — (the first 12 digits as a number) mod 11 mod 10;
    ОГРНИП — (the first 14 digits as a number) mod 13 mod 10.
    """
    if not is_ascii_digits(leading) or len(leading) not in (12, 14):
        raise ValueError("expected the first 12 (ОГРН) or 14 (ОГРНИП) digits")
    modulus = 11 if len(leading) == 12 else 13
    return int(leading) % modulus % 10


def ogrn(raw: str) -> str:
    """Validate an ОГРН or ОГРНИП and return its digits.

    ОГРН: 13 digits, the first 1 or 5; ОГРНИП: 15 digits, the first 3; the last digit is
    :func:`ogrn_check_digit` of the others. Surrounding spaces are ignored.
    Codes: ``format``, ``checksum``.
    """
    value = strip(raw)
    if not is_ascii_digits(value) or len(value) not in (13, 15):
        raise InvalidIdentifier("format", _FORMAT)
    if len(value) == 13 and value[0] not in "15":
        raise InvalidIdentifier("format", _FIRST_OGRN)
    if len(value) == 15 and value[0] != "3":
        raise InvalidIdentifier("format", _FIRST_OGRNIP)
    if ogrn_check_digit(value[:-1]) != int(value[-1]):
        raise InvalidIdentifier("checksum", _CHECKSUM[len(value)])
    return value


def ogrn_kind(digits: str) -> OgrnKind:
    """``"ogrn"`` for 13 digits (an organisation), ``"ogrnip"`` for 15 (an entrepreneur)."""
    if isinstance(digits, str) and is_ascii_digits(digits, 13):
        return "ogrn"
    if isinstance(digits, str) and is_ascii_digits(digits, 15):
        return "ogrnip"
    raise InvalidIdentifier("format", _FORMAT)
