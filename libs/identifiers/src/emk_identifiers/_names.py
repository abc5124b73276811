"""Parts of a person's name (фамилия, имя, отчество) as the registries spell them."""

from __future__ import annotations

import re
from typing import Literal, overload

from emk_identifiers._errors import InvalidIdentifier

__all__ = ["MAX_NAME_LENGTH", "person_name_part"]

MAX_NAME_LENGTH = 100

# The field names of the API and how a person calls them; any other ``field`` is taken as
# the Russian label itself.
_LABELS = {
    "last_name": "Фамилия",
    "first_name": "Имя",
    "middle_name": "Отчество",
}
_APOSTROPHES = "'’"
_ALLOWED = re.compile(r"[А-Яа-яЁё'’\- ]+")
# ASCII letters and the Latin letters with diacritics (Latin-1 and Latin Extended-A/B).
_LATIN = re.compile(r"[A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F]")
_DIGITS = re.compile(r"\d")
# Two separators in a row («--», «- », «''»), except the double space reported on its own.
_ADJACENT_SEPARATORS = re.compile(r"[\-'’ ][\-'’]|[\-'’] ")
_HINT = (
    "Используйте русские буквы, дефис, апостроф и одиночные пробелы, например «Салтыков-Щедрин»."
)


def _label(field: str) -> str:
    return _LABELS.get(field, field)


@overload
def person_name_part(raw: str | None, *, field: str, required: Literal[True]) -> str: ...
@overload
def person_name_part(raw: str | None, *, field: str, required: bool) -> str | None: ...
def person_name_part(raw: str | None, *, field: str, required: bool) -> str | None:
    """Validate a фамилия, имя or отчество and return it normalised.

    Rules: only Cyrillic letters (А–Я, а–я, Ё, ё), the hyphen, the apostrophe (``'`` or
    ``’``) and single spaces; it starts and ends with a letter, has no two separators in
    a row and at most 100 characters. Surrounding spaces are stripped and the typographic
    apostrophe ``’`` becomes ``'``; the case is kept.
    ``field`` is the API field (``last_name``, ``first_name``, ``middle_name``) or a
    Russian label; it names the field in the message. An empty value is ``None`` when
    not ``required``.
    Codes: ``missing``, ``too_long``, ``latin_letters`` (Latin letters, e.g. a Latin «o»
    typed inside «Иванoв»), ``digits``, ``double_space``, ``invalid_characters``, ``format``.
    """
    label = _label(field)
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        if required:
            raise InvalidIdentifier("missing", f"{label}: обязательное поле — заполните его.")
        return None
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidIdentifier(
            "too_long", f"{label}: слишком длинное значение — не более {MAX_NAME_LENGTH} символов."
        )
    latin = sorted(set(_LATIN.findall(value)))
    if latin:
        found = ", ".join(f"«{c}»" for c in latin)
        raise InvalidIdentifier(
            "latin_letters",
            f"{label}: найдены латинские буквы ({found}) — возможно, включена английская "
            "раскладка. Наберите значение русскими буквами.",
        )
    if _DIGITS.search(value):
        raise InvalidIdentifier("digits", f"{label}: цифры не допускаются. {_HINT}")
    if _ALLOWED.fullmatch(value) is None:
        raise InvalidIdentifier("invalid_characters", f"{label}: недопустимые символы. {_HINT}")
    if "  " in value:
        raise InvalidIdentifier(
            "double_space", f"{label}: между словами допускается только один пробел."
        )
    if value[0] in "-" + _APOSTROPHES or value[-1] in "-" + _APOSTROPHES:
        raise InvalidIdentifier(
            "format", f"{label}: значение должно начинаться и заканчиваться буквой. {_HINT}"
        )
    if _ADJACENT_SEPARATORS.search(value):
        raise InvalidIdentifier(
            "format", f"{label}: два знака препинания подряд не допускаются. {_HINT}"
        )
    return value.replace("’", "'")
