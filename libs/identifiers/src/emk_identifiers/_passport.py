"""The Russian internal passport: series, number and код подразделения."""

from __future__ import annotations

import re

from emk_identifiers._common import strip
from emk_identifiers._errors import InvalidIdentifier

__all__ = ["division_code", "passport_number", "passport_series"]

_SERIES = re.compile(r"([0-9]{2}) ?([0-9]{2})")
_NUMBER = re.compile(r"[0-9]{6}")
_DIVISION = re.compile(r"([0-9]{3})-?([0-9]{3})")


def passport_series(raw: str) -> str:
    """Validate a passport series and return its 4 digits.

    Rule: 4 digits. Written as in the passport, with a space between the pairs
    (``45 09``), it is accepted too; surrounding spaces are ignored. Code: ``format``.
    """
    match = _SERIES.fullmatch(strip(raw))
    if match is None:
        raise InvalidIdentifier("format", "Серия паспорта: нужно 4 цифры, например 4509.")
    return match[1] + match[2]


def passport_number(raw: str) -> str:
    """Validate a passport number and return its 6 digits.

    Rule: 6 digits; surrounding spaces are ignored. Code: ``format``.
    """
    value = strip(raw)
    if _NUMBER.fullmatch(value) is None:
        raise InvalidIdentifier("format", "Номер паспорта: нужно 6 цифр, например 123456.")
    return value


def division_code(raw: str) -> str:
    """Validate a код подразделения and return it as ``NNN-NNN``.

    Rule: 6 digits, written ``NNN-NNN`` or in a row (``770001`` → ``770-001``);
    surrounding spaces are ignored. Code: ``format``.
    """
    match = _DIVISION.fullmatch(strip(raw))
    if match is None:
        raise InvalidIdentifier(
            "format", "Код подразделения: нужно 6 цифр в виде NNN-NNN, например 770-001."
        )
    return f"{match[1]}-{match[2]}"
