"""A Russian phone number: +7 and 10 digits."""

from __future__ import annotations

import re

from emk_identifiers._common import strip
from emk_identifiers._errors import InvalidIdentifier

__all__ = ["phone"]

# Digits with the separators people type: spaces, hyphens, brackets; optionally a leading +.
_SHAPE = re.compile(r"\+?[0-9 ()\-]+")
_SEPARATORS = re.compile(r"[ ()\-]")

_FORMAT = "Телефон: нужен номер из +7 и 10 цифр, например +7 999 123-45-67."
_COUNTRY = (
    "Телефон: принимаются только российские номера — +7 и 10 цифр, например +7 999 123-45-67."
)


def phone(raw: str) -> str:
    """Validate a Russian phone number and return it as ``+7XXXXXXXXXX``.

    Rule: +7 and 10 digits. Accepted as typed: ``+7 (999) 123-45-67``, ``+79991234567``,
    ``8 999 123 45 67``, ``7 999 123 45 67`` — spaces, hyphens and brackets between the
    digits are ignored, and a leading 8 or 7 of an 11-digit number stands for +7.
    Refused: another country code (``+380…``, code ``country``), another length or any
    other character (code ``format``).
    """
    value = strip(raw)
    if _SHAPE.fullmatch(value) is None:
        raise InvalidIdentifier("format", _FORMAT)
    compact = _SEPARATORS.sub("", value)
    if compact.startswith("+"):
        if not compact.startswith("+7"):
            raise InvalidIdentifier("country", _COUNTRY)
        national = compact[2:]
    elif len(compact) == 11 and compact[0] in "78":
        national = compact[1:]
    else:
        raise InvalidIdentifier("format", _FORMAT)
    if len(national) != 10:
        raise InvalidIdentifier("format", _FORMAT)
    return "+7" + national
