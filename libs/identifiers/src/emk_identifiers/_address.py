"""An address: ``{region_code, postal_code?, locality, street, house, flat?}`` (API.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NotRequired, TypedDict

from emk_identifiers._errors import InvalidFields, InvalidIdentifier
from emk_identifiers._regions import region_code

__all__ = ["MAX_ADDRESS_PART_LENGTH", "Address", "address"]

MAX_ADDRESS_PART_LENGTH = 200

_POSTAL_CODE = re.compile(r"[0-9]{6}")
# field -> (required, how a person calls it)
_TEXT_PARTS = {
    "locality": (True, "Населённый пункт"),
    "street": (True, "Улица"),
    "house": (True, "Дом"),
    "flat": (False, "Квартира"),
}
_FIELDS = ("region_code", "postal_code", "locality", "street", "house", "flat")


class Address(TypedDict):
    """A validated address; the optional parts are absent when not given."""

    region_code: str
    postal_code: NotRequired[str]
    locality: str
    street: str
    house: str
    flat: NotRequired[str]


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def address(value: Mapping[str, object]) -> Address:
    """Validate an address and return it normalised, reporting every wrong part at once.

    Rules: ``region_code`` is a subject's code (:func:`~emk_identifiers.region_code`);
    ``postal_code``, if given, is 6 digits; ``locality``, ``street`` and ``house`` are
    non-empty after stripping; every text part, ``flat`` (optional) included, is at most
    200 characters. Text is stripped; an empty or ``None`` optional part is left out of
    the result. Keys other than these six are refused.
    Raises :class:`InvalidFields` with ``(field, code, message)`` for each wrong part,
    the fields named relative to the address (``region_code``). Codes: ``missing``,
    ``type``, ``too_long``, ``format``, ``unknown_region``, ``unknown_field``.
    """
    errors: list[tuple[str, str, str]] = []
    result: dict[str, str] = {}

    for key in value:
        if key not in _FIELDS:
            errors.append((str(key), "unknown_field", "Адрес: неизвестное поле."))

    raw_region = value.get("region_code")
    if not _given(raw_region):
        errors.append(("region_code", "missing", "Код региона: обязательное поле."))
    elif not isinstance(raw_region, str):
        errors.append(("region_code", "type", "Код региона: ожидается строка из 2 цифр."))
    else:
        try:
            result["region_code"] = region_code(raw_region)
        except InvalidIdentifier as exc:
            errors.append(("region_code", exc.code, exc.message))

    raw_postal = value.get("postal_code")
    if _given(raw_postal):
        postal = raw_postal.strip() if isinstance(raw_postal, str) else ""
        if _POSTAL_CODE.fullmatch(postal) is None:
            errors.append(
                ("postal_code", "format", "Почтовый индекс: нужно 6 цифр, например 125009.")
            )
        else:
            result["postal_code"] = postal

    for field, (required, label) in _TEXT_PARTS.items():
        raw = value.get(field)
        if not _given(raw):
            if required:
                errors.append((field, "missing", f"{label}: обязательное поле."))
            continue
        if not isinstance(raw, str):
            errors.append((field, "type", f"{label}: ожидается строка."))
            continue
        text = raw.strip()
        if len(text) > MAX_ADDRESS_PART_LENGTH:
            errors.append(
                (
                    field,
                    "too_long",
                    f"{label}: слишком длинное значение — не более "
                    f"{MAX_ADDRESS_PART_LENGTH} символов.",
                )
            )
            continue
        result[field] = text

    if errors:
        raise InvalidFields(errors)
    normalised = Address(
        region_code=result["region_code"],
        locality=result["locality"],
        street=result["street"],
        house=result["house"],
    )
    if "postal_code" in result:
        normalised["postal_code"] = result["postal_code"]
    if "flat" in result:
        normalised["flat"] = result["flat"]
    return normalised
