"""A record as a medical worker sends it: checked field by field before it is signed into
the book. Pure: no I/O; every wrong field is reported at once through
:class:`~emk_common.field_errors.FieldErrors`.

The record is kept exactly as received (its signature covers those bytes), so the checks
read it without rewriting it: a value is accepted only in the one form the API documents.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from emk_common.field_errors import FieldErrors
from records.domain.vocabulary import (
    CATEGORIES,
    CONCLUSIONS,
    DISEASES,
    EXAM_TYPES,
    KIND_LABELS,
    RESULTS,
    TESTS,
)

_COMMON: Final = frozenset({"record_id", "book_id", "kind", "date", "replaces", "reason"})
_FIELDS: Final = {
    "exam": frozenset(
        {"exam_type", "specialists", "conclusion", "restriction", "recommendations", "document_ids"}
    ),
    "vaccination": frozenset({"disease", "vaccine", "series", "dose"}),
    "lab_result": frozenset({"test", "result"}),
    "certification": frozenset({"category", "passed"}),
}
_REQUIRED: Final = {
    "exam": ("exam_type", "specialists", "conclusion"),
    "vaccination": ("disease", "vaccine", "dose"),
    "lab_result": ("test", "result"),
    "certification": ("category", "passed"),
}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOCUMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class CheckedRecord:
    """A record that passed every check; ``content`` is the object exactly as received."""

    record_id: str
    kind: str
    date: date
    replaces: str | None
    content: Mapping[str, Any]


def check_record(
    raw: Any,
    *,
    book_id: str,
    birth_date: date | None,
    today: date,
    errors: FieldErrors,
    path: str = "record",
) -> CheckedRecord | None:
    """The record, or None with the reasons added to ``errors``."""
    if not isinstance(raw, dict):
        errors.add(path, "type", "ожидается объект записи")
        return None
    found = len(errors.items)

    def at(name: str) -> str:
        return f"{path}.{name}"

    record_id = _text(raw, "record_id", at, errors, required=True, limit=36)
    if record_id is not None and not _is_uuid(record_id):
        errors.add(at("record_id"), "format", "ожидается идентификатор в формате UUID")
    stated_book = _text(raw, "book_id", at, errors, required=True, limit=64)
    if stated_book is not None and stated_book != book_id:
        errors.add(at("book_id"), "mismatch", "запись относится к другой медицинской книжке")
    kind = _choice(raw, "kind", KIND_LABELS, at, errors, required=True)
    allowed = _COMMON | _FIELDS.get(kind or "", frozenset())
    for name in sorted(set(raw) - allowed):
        errors.add(at(name), "unknown_field", "неизвестное поле")
    day = _date(raw, "date", at, errors)
    if day is not None:
        if day > today:
            errors.add(at("date"), "future", "дата не может быть в будущем")
        elif birth_date is not None and day < birth_date:
            errors.add(at("date"), "before_birth", "дата раньше даты рождения владельца книжки")
    replaces = _text(raw, "replaces", at, errors, limit=36)
    reason = _text(raw, "reason", at, errors, limit=1000)
    if replaces is not None and reason is None:
        errors.add(at("reason"), "missing", "укажите причину исправления")
    if reason is not None and replaces is None:
        errors.add(at("replaces"), "missing", "укажите, какую запись исправляет эта")
    if kind is not None:
        for name in _REQUIRED[kind]:
            if name not in raw:
                errors.add(at(name), "missing", "обязательное поле")
        _KIND_CHECKS[kind](raw, at, errors)
    if len(errors.items) > found or record_id is None or kind is None or day is None:
        return None
    return CheckedRecord(record_id=record_id, kind=kind, date=day, replaces=replaces, content=raw)


# --- per kind ---------------------------------------------------------------------------------

Path = Any  # the ``at(name)`` helper


def _exam(raw: Mapping[str, Any], at: Path, errors: FieldErrors) -> None:
    _choice(raw, "exam_type", EXAM_TYPES, at, errors)
    conclusion = _choice(raw, "conclusion", CONCLUSIONS, at, errors)
    specialists = raw.get("specialists")
    if "specialists" in raw:
        if not isinstance(specialists, list) or not specialists:
            errors.add(at("specialists"), "type", "ожидается непустой список специалистов")
        elif len(specialists) > 30:
            errors.add(at("specialists"), "too_long", "не более 30 специалистов")
        else:
            for i, name in enumerate(specialists):
                if not isinstance(name, str) or not name.strip() or len(name) > 200:
                    errors.add(at(f"specialists.{i}"), "type", "ожидается название специальности")
    restriction = _text(raw, "restriction", at, errors, limit=1000)
    if conclusion == "fit_with_restrictions" and restriction is None:
        errors.add(
            at("restriction"), "missing", "для заключения «Ограниченно годен» укажите ограничения"
        )
    if restriction is not None and conclusion in ("fit", "unfit"):
        errors.add(
            at("restriction"),
            "not_allowed",
            "ограничения указываются только для заключения «Ограниченно годен»",
        )
    _text(raw, "recommendations", at, errors, limit=2000)
    documents = raw.get("document_ids")
    if "document_ids" in raw:
        if not isinstance(documents, list) or len(documents) > 20:
            errors.add(at("document_ids"), "type", "ожидается список идентификаторов (не более 20)")
        else:
            for i, document_id in enumerate(documents):
                if not isinstance(document_id, str) or not _DOCUMENT_ID.fullmatch(document_id):
                    errors.add(
                        at(f"document_ids.{i}"), "format", "ожидается идентификатор документа"
                    )


def _vaccination(raw: Mapping[str, Any], at: Path, errors: FieldErrors) -> None:
    _choice(raw, "disease", DISEASES, at, errors)
    _text(raw, "vaccine", at, errors, limit=200)
    _text(raw, "series", at, errors, limit=100)
    dose = raw.get("dose")
    if "dose" in raw and (
        isinstance(dose, bool) or not isinstance(dose, int) or not 1 <= dose <= 10
    ):
        errors.add(at("dose"), "out_of_range", "номер дозы — целое число от 1 до 10")


def _lab_result(raw: Mapping[str, Any], at: Path, errors: FieldErrors) -> None:
    _choice(raw, "test", TESTS, at, errors)
    _choice(raw, "result", RESULTS, at, errors)


def _certification(raw: Mapping[str, Any], at: Path, errors: FieldErrors) -> None:
    _choice(raw, "category", CATEGORIES, at, errors)
    if "passed" in raw and not isinstance(raw["passed"], bool):
        errors.add(at("passed"), "type", "ожидается логическое значение (true или false)")


_KIND_CHECKS: Final = {
    "exam": _exam,
    "vaccination": _vaccination,
    "lab_result": _lab_result,
    "certification": _certification,
}


# --- values ------------------------------------------------------------------------------------


def _text(
    raw: Mapping[str, Any],
    name: str,
    at: Path,
    errors: FieldErrors,
    *,
    required: bool = False,
    limit: int,
) -> str | None:
    if name not in raw or raw[name] is None:
        if required:
            errors.add(at(name), "missing", "обязательное поле")
        return None
    value = raw[name]
    if not isinstance(value, str) or not value.strip():
        errors.add(at(name), "type", "ожидается непустая строка")
        return None
    if len(value) > limit:
        errors.add(at(name), "too_long", f"не более {limit} символов")
        return None
    return value


def _choice(
    raw: Mapping[str, Any],
    name: str,
    choices: Mapping[str, str],
    at: Path,
    errors: FieldErrors,
    *,
    required: bool = False,
) -> str | None:
    if name not in raw:
        if required:
            errors.add(at(name), "missing", "обязательное поле")
        return None
    value = raw[name]
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(f"{code} ({label})" for code, label in choices.items())
        errors.add(at(name), "choice", f"допустимые значения: {listed}")
        return None
    return value


def _date(raw: Mapping[str, Any], name: str, at: Path, errors: FieldErrors) -> date | None:
    value = raw.get(name)
    if name not in raw:
        errors.add(at(name), "missing", "обязательное поле")
        return None
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        errors.add(at(name), "format", "дата должна быть в формате ГГГГ-ММ-ДД")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.add(at(name), "format", "такой даты нет в календаре")
        return None


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False
