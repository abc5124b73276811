"""The applicant's part of an application: the employer block, the ОМС policy, the consent.

Pure rules. The request bodies (``api/schemas.py``) declare only loose types, so that a draft
may be incomplete and the rules here, not pydantic, word the Russian messages; every rule
runs and every wrong field is reported at once, with a dotted path (``employer.inn``) and a
message that names the field the way the form does («ИНН работодателя: …»).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import emk_identifiers as ids
from applications.domain.vocabulary import FIELD_LABELS, label_of
from emk_common.field_errors import FieldErrors

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
ATTACHABLE = (*REQUIRED_DOCUMENTS, *OPTIONAL_DOCUMENTS)
REQUIRED_EMPLOYER_FIELDS = (
    "name",
    "inn",
    "ogrn",
    "legal_address",
    "org_type",
    "ownership",
    "position",
)

# Limits of the free-text fields (the rules); the request models only bound the input.
_NAME_MAX = 500
_DEPARTMENT_MAX = 300
_POSITION_MAX = 200


@dataclass(frozen=True)
class Employer:
    """The employer block as it stands (a field not given yet is None). ``registry_checked``:
    ЕГРЮЛ/ЕГРИП confirmed this very ИНН/ОГРН pair (and gave the name and address)."""

    name: str | None = None
    inn: str | None = None
    ogrn: str | None = None
    legal_address: dict[str, str] | None = None
    hr_phone: str | None = None
    hr_email: str | None = None
    org_type: str | None = None
    ownership: str | None = None
    department: str | None = None
    position: str | None = None
    registry_checked: bool = False

    def given(self) -> dict[str, Any]:
        """The fields that have a value, by name (``registry_checked`` is not a field)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "registry_checked" and getattr(self, f.name) is not None
        }

    def updated(self, changes: Employer) -> Employer:
        """This block with every field ``changes`` gives. The registry's mark is the one of
        ``changes`` when it names an ИНН or ОГРН (checked again), else it is kept."""
        mark = changes.registry_checked if changes.names_registrant() else self.registry_checked
        return dataclasses.replace(self, **changes.given(), registry_checked=mark)

    def names_registrant(self) -> bool:
        """Whether this (change of the) block gives an ИНН or an ОГРН to check in ЕГРЮЛ."""
        return self.inn is not None or self.ogrn is not None


@dataclass(frozen=True)
class EmployerInput:
    """The employer block as a person sent it: raw texts, any of them absent."""

    name: str | None = None
    inn: str | None = None
    ogrn: str | None = None
    legal_address: Mapping[str, object] | None = None
    hr_phone: str | None = None
    hr_email: str | None = None
    org_type: str | None = None
    ownership: str | None = None
    department: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class DraftInput:
    """A draft or a change to it: a field that is absent (None) is left as it was."""

    employer: EmployerInput | None = None
    oms_policy: str | None = None
    consent_personal_data: bool | None = None


@dataclass(frozen=True)
class DraftValues:
    """The valid values of a :class:`DraftInput`: ``employer`` holds the valid fields given
    (present, possibly empty, whenever the input had an employer block)."""

    employer: Employer | None = None
    oms_policy: str | None = None
    consent_personal_data: bool | None = None

    def changed_paths(self) -> list[str]:
        """The field paths this change sets, sorted (for the history's comment)."""
        paths = [f"employer.{k}" for k in (self.employer.given() if self.employer else {})]
        if self.oms_policy is not None:
            paths.append("oms_policy")
        if self.consent_personal_data is not None:
            paths.append("consent_personal_data")
        return sorted(paths)


def add_labelled(errors: FieldErrors, path: str, code: str, reason: str) -> None:
    """An error whose message starts with the form's name of the field («Должность: …»)."""
    errors.add_sentence(path, code, f"{label_of(path)}: {reason}")


def _relabel(path: str, message: str) -> str:
    # emk_identifiers says «ИНН: …»; on this form it is the employer's ИНН.
    label = FIELD_LABELS.get(path)
    if label is None:
        return message
    _, colon, reason = message.partition(": ")
    return f"{label}: {reason if colon else message}"


class _Checks:
    """Runs validators, keeping every failure with its field."""

    def __init__(self, errors: FieldErrors) -> None:
        self.errors = errors

    def add(self, path: str, code: str, reason: str) -> None:
        add_labelled(self.errors, path, code, reason)

    def run(self, path: str, validator: Callable[..., T], /, *args: Any) -> T | None:
        try:
            return validator(*args)
        except ids.InvalidIdentifier as exc:
            self.errors.add_sentence(path, exc.code, _relabel(path, exc.message))
        except ids.InvalidFields as exc:
            for sub, code, message in exc.errors:
                sub_path = f"{path}.{sub}"
                self.errors.add_sentence(sub_path, code, _relabel(sub_path, message))
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


def _employer(checks: _Checks, given: EmployerInput) -> Employer:
    values: dict[str, Any] = {}
    texts = {"name": _NAME_MAX, "department": _DEPARTMENT_MAX, "position": _POSITION_MAX}
    for field, limit in texts.items():
        raw = getattr(given, field)
        if raw is not None:
            values[field] = checks.text(f"employer.{field}", raw, limit)
    if given.inn is not None:
        values["inn"] = checks.run("employer.inn", ids.inn, given.inn)
    if given.ogrn is not None:
        values["ogrn"] = checks.run("employer.ogrn", ids.ogrn, given.ogrn)
    if (
        values.get("inn")
        and values.get("ogrn")
        and not _pair(checks, values["inn"], values["ogrn"])
    ):
        values["ogrn"] = None
    if given.legal_address is not None:
        address = checks.run("employer.legal_address", ids.address, given.legal_address)
        values["legal_address"] = dict(address) if address is not None else None
    if given.hr_phone is not None:
        values["hr_phone"] = checks.run("employer.hr_phone", ids.phone, given.hr_phone)
    if given.hr_email is not None:
        values["hr_email"] = checks.run("employer.hr_email", ids.email, given.hr_email)
    if given.org_type is not None:
        values["org_type"] = checks.choice("employer.org_type", given.org_type, ORG_TYPES)
    if given.ownership is not None:
        values["ownership"] = checks.choice("employer.ownership", given.ownership, OWNERSHIPS)
    return Employer(**{field: value for field, value in values.items() if value is not None})


def check_draft(draft: DraftInput, errors: FieldErrors) -> DraftValues:
    """Validate every field present in ``draft``; return the valid values, adding every error.

    ``consent_personal_data`` is passed through as given: only ``True`` is a consent the
    caller may record (with its time and the version of its text); ``False`` is allowed in a
    draft and is not a consent. An ИНН of 10 digits must go with a 13-digit ОГРН and one of
    12 digits with a 15-digit ОГРНИП; a mismatched ОГРН is reported on ``employer.ogrn``
    and left out.
    """
    checks = _Checks(errors)
    employer = _employer(checks, draft.employer) if draft.employer is not None else None
    policy = None
    if draft.oms_policy is not None:
        policy = checks.run("oms_policy", ids.oms_policy, draft.oms_policy)
    return DraftValues(
        employer=employer, oms_policy=policy, consent_personal_data=draft.consent_personal_data
    )


def _absent(value: object) -> bool:
    return value is None or value == "" or value == {}


def missing_for_submission(
    employer: Employer,
    *,
    oms_policy: str | None,
    consented: bool,
    attached: Mapping[str, object],
    errors: FieldErrors,
) -> None:
    """Adds every required field and mandatory document the application still lacks.

    Required: the employer's name, ИНН, ОГРН, legal address, organisation type, ownership
    and position; the ОМС policy; the consent (152-ФЗ); the passport and ОМС policy scans.
    Code ``missing``.
    """
    checks = _Checks(errors)
    for field in REQUIRED_EMPLOYER_FIELDS:
        if _absent(getattr(employer, field)):
            checks.add(f"employer.{field}", "missing", "обязательное поле для подачи заявления.")
    if _absent(oms_policy):
        checks.add("oms_policy", "missing", "обязательное поле для подачи заявления.")
    if not consented:
        checks.add(
            "consent_personal_data",
            "missing",
            "согласие обязательно — без него заявление не может быть подано: "
            "сведения о здоровье обрабатываются только с письменного согласия "
            "(152-ФЗ, ст. 10).",
        )
    for kind in REQUIRED_DOCUMENTS:
        if not attached.get(kind):
            checks.add(
                f"documents.{kind}", "missing", "прикрепите документ — он обязателен для подачи."
            )
