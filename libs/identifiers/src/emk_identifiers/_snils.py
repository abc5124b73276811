"""СНИЛС: the insurance number of the individual personal account (11 digits)."""

from __future__ import annotations

import re

from emk_identifiers._common import is_ascii_digits
from emk_identifiers._errors import InvalidIdentifier

__all__ = ["format_snils", "mask_snils", "snils", "snils_check_number"]

# XXX-XXX-XXX YY, XXX-XXX-XXX-YY or 11 digits in a row.
_SHAPE = re.compile(r"([0-9]{3})-([0-9]{3})-([0-9]{3})[ -]([0-9]{2})|([0-9]{11})")
# The checksum is checked only for numbers above 001-001-998.
_LAST_UNCHECKED = 1_001_998

_FORMAT = "СНИЛС: нужно 11 цифр — в виде XXX-XXX-XXX YY или подряд, например 112-233-445 95."
_CHECKSUM = "СНИЛС: неверное контрольное число. Проверьте номер — 11 цифр, например 112-233-445 95."


def snils_check_number(first_nine: str) -> int:
    """The check number (the last two digits) for the first nine digits of a СНИЛС.

    Rule: sum = Σ dᵢ·(10−i) over the first nine digits (i = 1..9, so the weights are
    9, 8, …, 1); a sum below 100 is the check number itself; 100 or 101 give 00; a sum
    above 101 gives sum mod 101, and a remainder of 100 gives 00.
    """
    if not is_ascii_digits(first_nine, 9):
        raise ValueError("expected the first nine digits of a СНИЛС")
    total = sum(int(d) * (9 - i) for i, d in enumerate(first_nine))
    if total < 100:
        return total
    if total in (100, 101):
        return 0
    return total % 101 % 100  # a remainder of 100 is 00


def snils(raw: str) -> str:
    """Validate a СНИЛС and return its 11 digits.

    Accepted shapes (surrounding spaces ignored): ``XXX-XXX-XXX YY``, ``XXX-XXX-XXX-YY``
    and 11 digits in a row. The last two digits are the check number of
    :func:`snils_check_number`, checked only for numbers above 001-001-998 (the first
    nine digits as a number > 1001998); numbers up to that one were issued before the
    check number existed and are accepted as they are.
    Codes: ``format``, ``checksum``.
    """
    match = _SHAPE.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if match is None:
        raise InvalidIdentifier("format", _FORMAT)
    digits = match[5] or "".join(match.group(1, 2, 3, 4))
    if int(digits[:9]) > _LAST_UNCHECKED and snils_check_number(digits[:9]) != int(digits[9:]):
        raise InvalidIdentifier("checksum", _CHECKSUM)
    return digits


def _eleven_digits(digits: str) -> str:
    if not isinstance(digits, str) or not is_ascii_digits(digits, 11):
        raise InvalidIdentifier("format", _FORMAT)
    return digits


def format_snils(digits: str) -> str:
    """11 digits shown as ``XXX-XXX-XXX YY`` (``11223344595`` → ``112-233-445 95``)."""
    d = _eleven_digits(digits)
    return f"{d[0:3]}-{d[3:6]}-{d[6:9]} {d[9:11]}"


def mask_snils(digits: str) -> str:
    """11 digits masked for display: only the last five stay (``***-***-445 95``)."""
    d = _eleven_digits(digits)
    return f"***-***-{d[6:9]} {d[9:11]}"
