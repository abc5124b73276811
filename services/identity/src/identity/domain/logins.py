"""What a person types to sign in, and what the owner is shown of their identifiers."""

from __future__ import annotations

import contextlib
import re
from typing import Literal

from emk_identifiers import InvalidIdentifier, email, phone, snils

LoginKind = Literal["email", "phone", "snils"]
_SNILS_SHAPE = re.compile(r"^\d{3}-\d{3}-\d{3}[ -]\d{2}$")


def login_candidates(raw: str) -> list[tuple[LoginKind, str]]:
    """Which identifiers a login string can be, normalised (11 bare digits may be either)."""
    value = raw.strip()
    candidates: list[tuple[LoginKind, str]] = []
    if "@" in value:
        with contextlib.suppress(InvalidIdentifier):
            candidates.append(("email", email(value)))
        return candidates
    if _SNILS_SHAPE.match(value) or (value.isdigit() and len(value) == 11):
        with contextlib.suppress(InvalidIdentifier):
            candidates.append(("snils", snils(value)))
    if not _SNILS_SHAPE.match(value):
        with contextlib.suppress(InvalidIdentifier):
            candidates.append(("phone", phone(value)))
    return candidates


def mask_phone(value: str) -> str:
    """``+79991234567`` → ``+7 999 ***-**-67``."""
    return f"+7 {value[2:5]} ***-**-{value[-2:]}"


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_snils(digits: str) -> str:
    return f"***-***-{digits[6:9]} {digits[9:]}"


def mask_tail(value: str, visible: int = 4) -> str:
    return "*" * max(0, len(value) - visible) + value[-visible:]
