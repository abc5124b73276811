"""Password strength: long enough, not a well-known password, not built from the contacts.

No message ever contains the password or a part of it.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from emk_identifiers._errors import InvalidIdentifier

__all__ = ["MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "is_common_password", "password_strength"]

MIN_PASSWORD_LENGTH = 10
# Hashing is deliberately slow; an unbounded input would make it a denial of service.
MAX_PASSWORD_LENGTH = 256
# A local part this short (``a@…``) is in too many passwords to say anything.
_MIN_LOCAL_PART = 3
_NON_DIGITS = re.compile(r"[^0-9]")


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("emk_identifiers").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def is_common_password(password: str) -> bool:
    """Whether ``password`` is, ignoring case, in the shipped list of common passwords."""
    return password.strip().casefold() in _common_passwords()


def password_strength(password: str, *, email: str | None, phone: str | None) -> str:
    """Check that a new password is strong enough and return it unchanged.

    Rules, in this order:
    at least 10 characters (code ``too_short``; more than 256 is ``too_long``);
    not in the shipped list of common passwords ``common_passwords.txt``, ignoring case
    (code ``common``);
    not containing, ignoring case, the whole e-mail address or its local part (the part
    before ``@``, when it has at least 3 characters), nor the last 10 digits of the phone
    number (code ``contains_personal``).
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidIdentifier(
            "too_short",
            f"Пароль: слишком короткий — нужно не менее {MIN_PASSWORD_LENGTH} символов.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidIdentifier(
            "too_long",
            f"Пароль: слишком длинный — допускается не более {MAX_PASSWORD_LENGTH} символов.",
        )
    if is_common_password(password):
        raise InvalidIdentifier(
            "common",
            "Пароль: этот пароль слишком распространён и легко подбирается. "
            "Придумайте другой — например, из нескольких не связанных слов.",
        )
    folded = password.casefold()
    if email:
        address = email.strip().casefold()
        local = address.split("@", 1)[0]
        if (address and address in folded) or (len(local) >= _MIN_LOCAL_PART and local in folded):
            raise InvalidIdentifier(
                "contains_personal",
                "Пароль: не должен содержать адрес электронной почты или его часть до знака @.",
            )
    if phone:
        digits = _NON_DIGITS.sub("", phone)[-10:]
        if len(digits) == 10 and digits in password:
            raise InvalidIdentifier(
                "contains_personal", "Пароль: не должен содержать номер телефона."
            )
    return password
