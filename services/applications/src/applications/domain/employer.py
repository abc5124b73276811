"""The applicant's part of an application: the employer block, the ОМС policy, the consent.

Pure validation. The request bodies declare only loose types, so that a draft may be
incomplete and the rules here, not pydantic, word the Russian messages; every rule runs
and every wrong field is reported at once, with a dotted path (``employer.inn``) and a
message that names the field the way the form does («ИНН работодателя: …»).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import Field, StrictBool

import emk_identifiers as ids
from applications.domain.vocabulary import DOCUMENT_LABELS, FIELD_LABELS, label_of
from emk_common.field_errors import RequestBody
from emk_common.problems import FieldError

__all__ = [
    "DOCUMENT_LABELS",
    "FIELD_LABELS",
    "OPTIONAL_DOCUMENTS",
    "ORG_TYPES",
    "OWNERSHIPS",
    "REQUIRED_DOCUMENTS",
    "REQUIRED_EMPLOYER_FIELDS",
    "AddressIn",
    "DraftIn",
    "EmployerIn",
    "check_draft",
    "label_of",
    "missing_for_submission",
]

T = TypeVar("T")

ORG_TYPES: dict[str, str] = {
    "head_office": "Головная организация",
    "branch": "Филиал",
    "representative_office": "Представительство",
    "subsidiary": "Дочерняя организация",
}
OWNERSHIPS: dict[str, str] = {
    "state": "Государственная",
    "municipal": "Муниципальная",
    "private": "Частная",
}

REQUIRED_DOCUMENTS = ("passport", "oms_policy")
OPTIONAL_DOCUMENTS = ("medical_certificate",)
REQUIRED_EMPLOYER_FIELDS = (
    "name",
    "inn",
    "ogrn",
    "legal_address",
    "org_type",
    "ownership",
    "position",
)

# Limits of the free-text fields (the rules); the pydantic caps below only bound the input.
_NAME_MAX = 500
_DEPARTMENT_MAX = 300
_POSITION_MAX = 200
_TEXT_CAP = 2000
_CODE_CAP = 64


class AddressIn(RequestBody):
    """An address as in API.md; every part optional here so that the rules name each gap."""

    region_code: str | None = Field(default=None, max_length=_CODE_CAP)
    postal_code: str | None = Field(default=None, max_length=_CODE_CAP)
    locality: str | None = Field(default=None, max_length=_TEXT_CAP)
    street: str | None = Field(default=None, max_length=_TEXT_CAP)
    house: str | None = Field(default=None, max_length=_TEXT_CAP)
    flat: str | None = Field(default=None, max_length=_TEXT_CAP)


class EmployerIn(RequestBody):
    name: str | None = Field(default=None, max_length=_TEXT_CAP)
    inn: str | None = Field(default=None, max_length=_CODE_CAP)
    ogrn: str | None = Field(default=None, max_length=_CODE_CAP)
    legal_address: AddressIn | None = None
    hr_phone: str | None = Field(default=None, max_length=_CODE_CAP)
    hr_email: str | None = Field(default=None, max_length=_TEXT_CAP)
    org_type: str | None = Field(default=None, max_length=_CODE_CAP)
    ownership: str | None = Field(default=None, max_length=_CODE_CAP)
    department: str | None = Field(default=None, max_length=_TEXT_CAP)
    position: str | None = Field(default=None, max_length=_TEXT_CAP)


class DraftIn(RequestBody):
    """A draft or a change to it: a field that is absent or ``null`` is left as it was."""

    employer: EmployerIn | None = None
    oms_policy: str | None = Field(default=None, max_length=_CODE_CAP)
    # Strict: consent is an explicit ``true``, not a string or a number that looks like one.
    consent_personal_data: StrictBool | None = None


def _relabel(path: str, message: str) -> str:
    # emk_identifiers says «ИНН: …»; on this form it is the employer's ИНН.
    label = FIELD_LABELS.get(path)
    if label is None:
        return message
    _, colon, reason = message.partition(": ")
    return f"{label}: {reason if colon else message}"


class _Checks:
    """Runs validators, keeping every failure with its field."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, code: str, reason: str) -> None:
        self.errors.append(FieldError(field=path, code=code, message=f"{label_of(path)}: {reason}"))

    def run(self, path: str, validator: Callable[..., T], /, *args: Any) -> T | None:
        try:
            return validator(*args)
        except ids.InvalidIdentifier as exc:
            self.errors.append(
                FieldError(field=path, code=exc.code, message=_relabel(path, exc.message))
            )
        except ids.InvalidFields as exc:
            for sub, code, message in exc.errors:
                sub_path = f"{path}.{sub}"
                self.errors.append(
                    FieldError(field=sub_path, code=code, message=_relabel(sub_path, message))
                )
        return None

    def text(self, path: str, value: str, limit: int) -> str | None:
        if not value:
            self.add(path, "missing", "заполните поле.")
            return None
        if len(value) > limit:
            self.add(path, "too_long", f"слишком длинное значение — не более {limit} символов.")
            return None
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            self.add(
                path, "format", "значение содержит управляющие символы (перевод строки, табуляция)."
            )
            return None
        return value

    def choice(self, path: str, value: str, choices: Mapping[str, str]) -> str | None:
        if value in choices:
            return value
        allowed = ", ".join(f"«{label}» ({key})" for key, label in choices.items())
        self.add(path, "choice", f"выберите одно из значений — {allowed}.")
        return None


def _pair(checks: _Checks, inn: str, ogrn: str) -> bool:
    """Whether the ИНН and the ОГРН are of the same kind of registrant."""
    ogrn_kind = ids.ogrn_kind(ogrn)
    if len(inn) == 10 and ogrn_kind == "ogrnip":
        checks.add(
            "employer.ogrn",
            "kind_mismatch",
            "ИНН из 10 цифр принадлежит организации — к нему нужен ОГРН из 13 цифр, "
            "а указан ОГРНИП индивидуального предпринимателя (15 цифр).",
        )
        return False
    if len(inn) == 12 and ogrn_kind == "ogrn":
        checks.add(
            "employer.ogrn",
            "kind_mismatch",
            "ИНН из 12 цифр принадлежит индивидуальному предпринимателю — к нему нужен "
            "ОГРНИП из 15 цифр, а указан ОГРН организации (13 цифр).",
        )
        return False
    return True


def _employer(checks: _Checks, body: EmployerIn) -> dict[str, Any]:
    values: dict[str, Any] = {}
    texts = {"name": _NAME_MAX, "department": _DEPARTMENT_MAX, "position": _POSITION_MAX}
    for field, limit in texts.items():
        raw = getattr(body, field)
        if raw is not None:
            values[field] = checks.text(f"employer.{field}", raw, limit)
    if body.inn is not None:
        values["inn"] = checks.run("employer.inn", ids.inn, body.inn)
    if body.ogrn is not None:
        values["ogrn"] = checks.run("employer.ogrn", ids.ogrn, body.ogrn)
    if (
        values.get("inn")
        and values.get("ogrn")
        and not _pair(checks, values["inn"], values["ogrn"])
    ):
        values["ogrn"] = None
    if body.legal_address is not None:
        address = checks.run("employer.legal_address", ids.address, body.legal_address.model_dump())
        values["legal_address"] = dict(address) if address is not None else None
    if body.hr_phone is not None:
        values["hr_phone"] = checks.run("employer.hr_phone", ids.phone, body.hr_phone)
    if body.hr_email is not None:
        values["hr_email"] = checks.run("employer.hr_email", ids.email, body.hr_email)
    if body.org_type is not None:
        values["org_type"] = checks.choice("employer.org_type", body.org_type, ORG_TYPES)
    if body.ownership is not None:
        values["ownership"] = checks.choice("employer.ownership", body.ownership, OWNERSHIPS)
    return {field: value for field, value in values.items() if value is not None}


def check_draft(body: DraftIn) -> tuple[dict[str, Any], list[FieldError]]:
    """Validate every field present in ``body``; return the valid values and every error.

    The values are ``{"employer": {...}, "oms_policy": ..., "consent_personal_data": ...}``
    with only the fields that were present and valid (``employer`` present, possibly
    empty, whenever the body had an employer block). ``consent_personal_data`` is passed
    through as given: only ``True`` is a consent the caller may record (with its time and
    the version of its text); ``False`` is allowed in a draft and is not a consent.
    An ИНН of 10 digits must go with a 13-digit ОГРН and one of 12 digits with a
    15-digit ОГРНИП; a mismatched ОГРН is reported on ``employer.ogrn`` and left out.
    """
    checks = _Checks()
    values: dict[str, Any] = {}
    if body.employer is not None:
        values["employer"] = _employer(checks, body.employer)
    if body.oms_policy is not None:
        policy = checks.run("oms_policy", ids.oms_policy, body.oms_policy)
        if policy is not None:
            values["oms_policy"] = policy
    if body.consent_personal_data is not None:
        values["consent_personal_data"] = body.consent_personal_data
    return values, checks.errors


def _absent(value: object) -> bool:
    return value is None or value == "" or value == {}


def missing_for_submission(application: Mapping[str, Any]) -> list[FieldError]:
    """Every required field and mandatory document the stored application still lacks.

    ``application`` is the stored shape: ``{"employer": {...}, "oms_policy": ...,
    "consent": {...} | None, "documents": {kind: {...}}}``. Required: the employer's
    name, ИНН, ОГРН, legal address, organisation type, ownership and position; the ОМС
    policy; the consent (152-ФЗ); the passport and ОМС policy scans. Code ``missing``.
    """
    checks = _Checks()
    employer = application.get("employer") or {}
    for field in REQUIRED_EMPLOYER_FIELDS:
        if _absent(employer.get(field)):
            checks.add(f"employer.{field}", "missing", "обязательное поле для подачи заявления.")
    if _absent(application.get("oms_policy")):
        checks.add("oms_policy", "missing", "обязательное поле для подачи заявления.")
    if not application.get("consent"):
        checks.add(
            "consent_personal_data",
            "missing",
            "согласие обязательно — без него заявление не может быть подано: "
            "сведения о здоровье обрабатываются только с письменного согласия "
            "(152-ФЗ, ст. 10).",
        )
    documents = application.get("documents") or {}
    for kind in REQUIRED_DOCUMENTS:
        if not documents.get(kind):
            checks.add(
                f"documents.{kind}", "missing", "прикрепите документ — он обязателен для подачи."
            )
    return checks.errors
