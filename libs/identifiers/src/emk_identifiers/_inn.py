"""ИНН: the taxpayer identification number (10 digits for an organisation, 12 for a person)."""

from __future__ import annotations

from typing import Literal

from emk_identifiers._common import is_ascii_digits, strip
from emk_identifiers._errors import InvalidIdentifier

__all__ = ["InnKind", "inn", "inn_check_digit"]

InnKind = Literal["any", "person", "legal"]

_LEGAL_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_PERSON_WEIGHTS_11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_PERSON_WEIGHTS_12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)

_FORMATS: dict[InnKind, str] = {
    "any": (
        "ИНН: нужно 10 цифр (организация, например 7707083893) "
        "или 12 цифр (физическое лицо, например 500100732259)."
    ),
    "legal": "ИНН организации: нужно 10 цифр, например 7707083893.",
    "person": "ИНН физического лица: нужно 12 цифр, например 500100732259.",
}
_CHECKSUM = "ИНН: неверное контрольное число. Проверьте номер — {what}."
_WHAT = {10: "10 цифр, например 7707083893", 12: "12 цифр, например 500100732259"}


def inn_check_digit(digits: str) -> int:
    """The next check digit of an ИНН for its leading ``digits`` (9, 10 or 11 of them).

    Rule: Σ dᵢ·wᵢ mod 11 mod 10 with the weights
    (2,4,10,3,5,9,4,6,8) for the 10th digit of an organisation's ИНН,
    (7,2,4,10,3,5,9,4,6,8) for the 11th and (3,7,2,4,10,3,5,9,4,6,8) for the 12th
    digit of a person's ИНН.
    """
    weights = {9: _LEGAL_WEIGHTS, 10: _PERSON_WEIGHTS_11, 11: _PERSON_WEIGHTS_12}.get(len(digits))
    if weights is None or not is_ascii_digits(digits):
        raise ValueError("expected 9, 10 or 11 leading digits of an ИНН")
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 % 10


def inn(raw: str, *, kind: InnKind = "any") -> str:
    """Validate an ИНН and return its digits.

    10 digits (an organisation): the 10th is :func:`inn_check_digit` of the first nine.
    12 digits (a person): the 11th is the check digit of the first ten, the 12th of the
    first eleven. ``kind="legal"`` accepts only 10 digits, ``kind="person"`` only 12
    (the ИНН of personal data), ``"any"`` either. Surrounding spaces are ignored.
    Codes: ``format``, ``checksum``.
    """
    value = strip(raw)
    allowed = {"any": (10, 12), "legal": (10,), "person": (12,)}[kind]
    if not is_ascii_digits(value) or len(value) not in allowed:
        raise InvalidIdentifier("format", _FORMATS[kind])
    checked = range(9, len(value)) if len(value) == 10 else range(10, 12)
    for position in checked:
        if inn_check_digit(value[:position]) != int(value[position]):
            raise InvalidIdentifier("checksum", _CHECKSUM.format(what=_WHAT[len(value)]))
    return value
