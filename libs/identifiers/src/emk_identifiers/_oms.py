"""ОМС: the single number of a compulsory medical insurance policy (16 digits)."""

from __future__ import annotations

from stdnum import luhn

from emk_identifiers._common import is_ascii_digits, strip
from emk_identifiers._errors import InvalidIdentifier

__all__ = ["oms_policy"]

_FORMAT = "Полис ОМС: нужен единый номер полиса — 16 цифр, например 9876543210987658."
_CHECKSUM = (
    "Полис ОМС: неверное контрольное число. Проверьте номер — 16 цифр, например 9876543210987658."
)


def oms_policy(raw: str) -> str:
    """Validate the single number of an ОМС policy and return its 16 digits.

    Rule: 16 digits, the last a Luhn check digit of the first 15. Surrounding spaces and
    spaces between groups of digits (``9876 5432 1098 7658``) are ignored.
    Codes: ``format``, ``checksum``.
    """
    value = strip(raw).replace(" ", "")
    if not is_ascii_digits(value, 16):
        raise InvalidIdentifier("format", _FORMAT)
    if luhn.checksum(value) != 0:
        raise InvalidIdentifier("checksum", _CHECKSUM)
    return value
