"""Field-level validation errors: the ``errors`` member of a 422 problem.

Pydantic reports errors in English with its own type names; a citizen must read which
field is wrong and why in Russian, and the frontend needs a stable English ``code``.
This module translates pydantic's error dicts into :class:`FieldError` and lets our own
validators choose the code (``invalid_value("checksum", "…")``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ErrorType

# Where FastAPI found the value; stripped from the path because the client knows
# its own body from its query string, and ``employer.inn`` is what it shows to a person.
_LOCATIONS = {
    "body": "Тело запроса",
    "query": "Параметры запроса",
    "path": "Адрес запроса",
    "header": "Заголовки запроса",
    "cookie": "Cookie запроса",
}
_BUILTIN_TYPES = frozenset(get_args(ErrorType))
_VALUE_ERROR_PREFIXES = ("Value error, ", "Assertion failed, ")


class FieldError(BaseModel):
    """One wrong field: dotted path, an English code for programs, a Russian message for people."""

    model_config = ConfigDict(frozen=True)

    field: str
    code: str
    message: str

    @classmethod
    def of(cls, field: str, code: str, reason: str) -> FieldError:
        """Build an error whose message names the field, the way validation errors do."""
        return cls(field=field, code=code, message=field_message(field, reason))


def invalid_value(code: str, message: str) -> PydanticCustomError:
    """An error for a pydantic validator to raise, carrying its own English code.

    ``raise invalid_value("checksum", "Неверная контрольная сумма СНИЛС")`` in a
    ``field_validator`` ends up as ``{"code": "checksum", "message": "Поле «snils»: …"}``.
    A plain ``ValueError("…")`` works too and gets the code ``invalid``.
    """
    return PydanticCustomError(code, message)


def field_message(field: str, reason: str) -> str:
    """«Поле «employer.inn»: неверная контрольная сумма»."""
    return f"Поле «{field}»: {_lower_first(reason)}"


def _lower_first(text: str) -> str:
    # "Неверная сумма" reads on after a colon as "неверная сумма"; an acronym
    # ("СНИЛС указан неверно") keeps its capitals.
    if len(text) >= 2 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _counted(n: int, forms: tuple[str, str]) -> str:
    """The genitive a count takes after «не более/не менее»: 1 и 21 символа, 2 и 5 символов."""
    return forms[0] if n % 10 == 1 and n % 100 != 11 else forms[1]


_CHARS = ("символа", "символов")
_ITEMS = ("элемента", "элементов")


def _choices(ctx: Mapping[str, Any]) -> str:
    # pydantic renders the allowed values as "'M' or 'F'" or "1, 2 or 3".
    expected = str(ctx.get("expected", ""))
    quoted = re.findall(r"'([^']*)'", expected)
    if quoted:
        return ", ".join(quoted)
    return re.sub(r",? or ", ", ", expected)


def _choice(ctx: Mapping[str, Any]) -> str:
    return f"допустимые значения: {_choices(ctx)}"


def _too_short(ctx: Mapping[str, Any]) -> str:
    n = int(ctx.get("min_length", 1))
    if n <= 1:
        return "значение не может быть пустым"
    return f"слишком короткое значение: не менее {n} {_counted(n, _CHARS)}"


def _too_long(ctx: Mapping[str, Any]) -> str:
    n = int(ctx.get("max_length", 0))
    return f"слишком длинное значение: не более {n} {_counted(n, _CHARS)}"


def _too_few(ctx: Mapping[str, Any]) -> str:
    n = int(ctx.get("min_length", 1))
    return f"слишком мало элементов: нужно не менее {n} {_counted(n, _ITEMS)}"


def _too_many(ctx: Mapping[str, Any]) -> str:
    n = int(ctx.get("max_length", 0))
    return f"слишком много элементов: допускается не более {n} {_counted(n, _ITEMS)}"


def _fixed(text: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda _ctx: text


def _type(expected: str) -> Callable[[Mapping[str, Any]], str]:
    return _fixed(f"неверный тип значения: ожидается {expected}")


def _bound(words: str, key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda ctx: f"значение должно быть {words} {ctx.get(key)}"


_DATE = _fixed("дата должна быть в формате ГГГГ-ММ-ДД")
_DATETIME = _fixed("дата и время должны быть в формате ISO 8601, например 2025-01-31T09:30:00Z")
_TIME = _fixed("время должно быть в формате ЧЧ:ММ или ЧЧ:ММ:СС")
_UUID = _fixed("ожидается идентификатор в формате UUID")
_NUMBER = _type("число")
_INTEGER = _type("целое число")
_LIST = _type("список")
_OBJECT = _type("объект")

# pydantic error type -> (our code, reason built from the error's ctx)
_TRANSLATIONS: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "missing": ("missing", _fixed("обязательное поле")),
    "extra_forbidden": ("unknown_field", _fixed("неизвестное поле")),
    "none_required": ("type", _fixed("значение должно быть пустым (null)")),
    "string_type": ("type", _type("строка")),
    "string_sub_type": ("type", _type("строка")),
    "string_unicode": ("type", _type("строка в кодировке UTF-8")),
    "int_type": ("type", _INTEGER),
    "int_parsing": ("type", _INTEGER),
    "int_from_float": ("type", _INTEGER),
    "int_parsing_size": ("out_of_range", _fixed("число слишком велико")),
    "float_type": ("type", _NUMBER),
    "float_parsing": ("type", _NUMBER),
    "decimal_type": ("type", _NUMBER),
    "decimal_parsing": ("type", _NUMBER),
    "finite_number": ("out_of_range", _fixed("значение должно быть конечным числом")),
    "bool_type": ("type", _type("логическое значение (true или false)")),
    "bool_parsing": ("type", _type("логическое значение (true или false)")),
    "list_type": ("type", _LIST),
    "tuple_type": ("type", _LIST),
    "set_type": ("type", _LIST),
    "frozen_set_type": ("type", _LIST),
    "iterable_type": ("type", _LIST),
    "dict_type": ("type", _OBJECT),
    "mapping_type": ("type", _OBJECT),
    "model_type": ("type", _OBJECT),
    "model_attributes_type": ("type", _OBJECT),
    "dataclass_type": ("type", _OBJECT),
    "bytes_type": ("type", _type("строка")),
    "string_too_short": ("too_short", _too_short),
    "string_too_long": ("too_long", _too_long),
    "bytes_too_short": ("too_short", _too_short),
    "bytes_too_long": ("too_long", _too_long),
    "too_short": ("too_short", _too_few),
    "too_long": ("too_long", _too_many),
    "string_pattern_mismatch": ("format", _fixed("значение не соответствует формату")),
    "greater_than": ("out_of_range", _bound("больше", "gt")),
    "greater_than_equal": ("out_of_range", _bound("не меньше", "ge")),
    "less_than": ("out_of_range", _bound("меньше", "lt")),
    "less_than_equal": ("out_of_range", _bound("не больше", "le")),
    "multiple_of": ("out_of_range", _bound("кратно", "multiple_of")),
    "literal_error": ("choice", _choice),
    "enum": ("choice", _choice),
    "date_type": ("format", _DATE),
    "date_parsing": ("format", _DATE),
    "date_from_datetime_parsing": ("format", _DATE),
    "date_from_datetime_inexact": ("format", _DATE),
    "date_past": ("out_of_range", _fixed("дата должна быть в прошлом")),
    "date_future": ("out_of_range", _fixed("дата должна быть в будущем")),
    "datetime_type": ("format", _DATETIME),
    "datetime_parsing": ("format", _DATETIME),
    "datetime_from_date_parsing": ("format", _DATETIME),
    "datetime_object_invalid": ("format", _DATETIME),
    "datetime_past": ("out_of_range", _fixed("момент времени должен быть в прошлом")),
    "datetime_future": ("out_of_range", _fixed("момент времени должен быть в будущем")),
    "timezone_aware": ("format", _fixed("укажите часовой пояс, например Z или +03:00")),
    "timezone_naive": ("format", _fixed("часовой пояс указывать не нужно")),
    "time_type": ("format", _TIME),
    "time_parsing": ("format", _TIME),
    "uuid_type": ("format", _UUID),
    "uuid_parsing": ("format", _UUID),
    "uuid_version": ("format", _UUID),
    "url_type": ("format", _fixed("ожидается адрес (URL)")),
    "url_parsing": ("format", _fixed("ожидается адрес (URL)")),
    "url_scheme": ("format", _fixed("недопустимая схема адреса (URL)")),
    "url_too_long": ("too_long", _fixed("слишком длинный адрес (URL)")),
    "union_tag_invalid": ("choice", _fixed("неизвестный вид объекта")),
    "union_tag_not_found": ("missing", _fixed("не указан вид объекта")),
}


def field_errors_from_pydantic(
    errors: Iterable[Mapping[str, Any]], *, from_request: bool = True
) -> list[FieldError]:
    """Translate pydantic error dicts (``exc.errors()``) into field errors, in order.

    With ``from_request`` (FastAPI's ``RequestValidationError``) the first path element is
    where the value was (``body``, ``query`` …) and is dropped; pass ``False`` for errors
    of a model validated by hand, whose paths start with a field name.
    The offending input is never copied into the message: it may be a password or a СНИЛС.
    """
    return [_translate(error, from_request) for error in errors]


def _translate(error: Mapping[str, Any], from_request: bool) -> FieldError:
    kind = str(error.get("type", ""))
    loc: Sequence[Any] = tuple(error.get("loc", ()))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "json_invalid":
        # loc is ("body", <character offset>); the offset means nothing to a person.
        return FieldError(
            field="body", code="invalid_json", message="Тело запроса — некорректный JSON"
        )

    location = str(loc[0]) if from_request and loc and loc[0] in _LOCATIONS else None
    path = ".".join(str(part) for part in (loc[1:] if location else loc))
    code, reason = _reason(kind, str(error.get("msg", "")), ctx)
    if path:
        return FieldError(field=path, code=code, message=field_message(path, reason))
    where = location or "body"
    return FieldError(
        field=where, code=code, message=f"{_LOCATIONS[where]}: {_lower_first(reason)}"
    )


_CYRILLIC = re.compile("[а-яА-ЯёЁ]")


def _reason(kind: str, msg: str, ctx: Mapping[str, Any]) -> tuple[str, str]:
    if kind in ("value_error", "assertion_error"):
        for prefix in _VALUE_ERROR_PREFIXES:
            msg = msg.removeprefix(prefix)
        return "invalid", msg
    if _CYRILLIC.search(msg):
        # Already a message of ours (pydantic's own are English), even when our code happens
        # to share a name with a pydantic error type, such as ``too_short``.
        return kind, msg
    if kind in _TRANSLATIONS:
        code, build = _TRANSLATIONS[kind]
        return code, build(ctx)
    if kind not in _BUILTIN_TYPES:
        # A PydanticCustomError from our own validators: its type is our code.
        return kind, msg
    return kind, f"недопустимое значение (код ошибки: {kind})"


class RequestBody(BaseModel):
    """The base of every JSON request body: an unknown field is an error naming it (not
    silently dropped), and text arrives trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InvalidFieldsError(Exception):
    """Every wrong field of one request, found by the domain; the edge answers 422 with
    them all (``emk_common.problems`` installs the handler)."""

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = list(errors)
        self.detail = detail


class FieldErrors:
    """The one accumulator of wrong fields: a domain rule adds what it finds, and the
    caller raises them together, so a person fixes everything in one go."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, code: str, reason: str) -> None:
        """``reason`` reads after «Поле «field»: …» (see :func:`field_message`)."""
        self.items.append(FieldError.of(field, code, reason))

    def add_sentence(self, field: str, code: str, message: str) -> None:
        """``message`` is already a whole sentence saying what is wrong («Укажите вид
        документа.»; the identifier library's messages), kept as it is."""
        self.items.append(FieldError(field=field, code=code, message=message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, detail: str | None = None) -> None:
        if self.items:
            raise InvalidFieldsError(self.items, detail)
