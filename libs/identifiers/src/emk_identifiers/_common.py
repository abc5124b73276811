"""Small helpers shared by the validators (private)."""

from __future__ import annotations

import re
from datetime import date

_ASCII_DIGITS = re.compile(r"[0-9]+")


def is_ascii_digits(text: str, length: int | None = None) -> bool:
    """Only the digits 0-9 (not other Unicode digits such as «٣»), of ``length`` if given."""
    if _ASCII_DIGITS.fullmatch(text) is None:
        return False
    return length is None or len(text) == length


def strip(raw: object) -> str:
    """The text without surrounding whitespace; a non-string is treated as empty text."""
    return raw.strip() if isinstance(raw, str) else ""


def ru_date(value: date) -> str:
    """ДД.ММ.ГГГГ, how a date is written for a Russian reader."""
    return value.strftime("%d.%m.%Y")
