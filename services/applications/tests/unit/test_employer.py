"""The employer block, the ОМС policy and the consent: every rule, every error at once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from applications.api.schemas import DraftIn
from applications.domain.application import Application
from applications.domain.employer import DraftValues, Employer, check_draft
from applications.domain.parts import Attachment, Consent
from applications.domain.statuses import Status
from applications.domain.vocabulary import DOCUMENT_LABELS, FIELD_LABELS, label_of
from emk_common.field_errors import FieldError, FieldErrors

# Valid identifiers, their check digits computed by hand from the rules in DOMAIN.md.
LEGAL_INN = "7710543822"  # Σ dᵢ·wᵢ = 14+28+10+0+25+36+12+48+16 = 189; 189 mod 11 = 2
LEGAL_OGRN = "1197746318527"  # 119774631852 mod 11 = 7
IP_INN = "771234567859"
# 32177460011525 mod 13 = 10 → check digit 0: python-stdnum 2.2 refuses this valid ОГРНИП.
IP_OGRNIP = "321774600115250"
OMS = "9876543210987658"

ADDRESS = {
    "region_code": "77",
    "postal_code": "125009",
    "locality": "г. Москва",
    "street": "ул. Тверская",
    "house": "7",
}


def employer(**changes: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "name": "ООО «Кофейня на Тверской»",
        "inn": LEGAL_INN,
        "ogrn": LEGAL_OGRN,
        "legal_address": dict(ADDRESS),
        "hr_phone": "+7 (495) 123-45-67",
        "hr_email": "HR@Coffee-Tverskaya.ru",
        "org_type": "head_office",
        "ownership": "private",
        "department": "Кухня",
        "position": "Повар",
    }
    block.update(changes)
    return {key: value for key, value in block.items() if value is not None}


def shown(values: DraftValues) -> dict[str, Any]:
    """The valid values as they were given: only the fields present and valid (``employer``
    present, possibly empty, whenever the body had an employer block)."""
    given: dict[str, Any] = {}
    if values.employer is not None:
        given["employer"] = values.employer.given()
    if values.oms_policy is not None:
        given["oms_policy"] = values.oms_policy
    if values.consent_personal_data is not None:
        given["consent_personal_data"] = values.consent_personal_data
    return given


def check(**body: Any) -> tuple[dict[str, Any], list[FieldError]]:
    errors = FieldErrors()
    values = check_draft(DraftIn.model_validate(body).to_domain(), errors)
    return shown(values), errors.items


def errors_by_field(errors: list[FieldError]) -> dict[str, FieldError]:
    by_field = {error.field: error for error in errors}
    assert len(by_field) == len(errors), "one error per field"
    return by_field


def test_a_complete_valid_draft_is_normalised() -> None:
    values, errors = check(
        employer=employer(inn=f" {LEGAL_INN} "),
        oms_policy="9876 5432 1098 7658",
        consent_personal_data=True,
    )
    assert errors == []
    assert values == {
        "employer": {
            "name": "ООО «Кофейня на Тверской»",
            "inn": LEGAL_INN,
            "ogrn": LEGAL_OGRN,
            "legal_address": ADDRESS,
            "hr_phone": "+74951234567",
            "hr_email": "hr@coffee-tverskaya.ru",
            "org_type": "head_office",
            "ownership": "private",
            "department": "Кухня",
            "position": "Повар",
        },
        "oms_policy": OMS,
        "consent_personal_data": True,
    }


def test_an_entrepreneur_pair_is_accepted_even_where_python_stdnum_errs() -> None:
    from stdnum.ru import ogrn as stdnum_ogrn

    assert not stdnum_ogrn.is_valid(IP_OGRNIP)  # the library's bug this number exercises
    values, errors = check(employer={"inn": IP_INN, "ogrn": IP_OGRNIP})
    assert errors == []
    assert values == {"employer": {"inn": IP_INN, "ogrn": IP_OGRNIP}}


def test_absent_fields_are_neither_checked_nor_returned() -> None:
    assert check() == ({}, [])
    assert check(employer={}) == ({"employer": {}}, [])
    assert check(employer={"position": "Повар"}) == ({"employer": {"position": "Повар"}}, [])


@pytest.mark.parametrize(
    ("field", "value", "code", "starts"),
    [
        ("inn", "77105438", "format", "ИНН работодателя: нужно 10 цифр"),
        ("inn", "7710543823", "checksum", "ИНН работодателя: неверное контрольное число"),
        ("inn", "771234567858", "checksum", "ИНН работодателя: неверное контрольное число"),
        ("ogrn", "1197746318528", "checksum", "ОГРН/ОГРНИП работодателя: неверное"),
        ("ogrn", "321774600115251", "checksum", "ОГРН/ОГРНИП работодателя: неверное"),
        ("ogrn", "2197746318527", "format", "ОГРН/ОГРНИП работодателя: 13-значный"),
        ("ogrn", "11977463185", "format", "ОГРН/ОГРНИП работодателя: нужно 13 цифр"),
        ("hr_phone", "+380 44 123 45 67", "country", "Телефон отдела кадров: принимаются"),
        ("hr_phone", "12345", "format", "Телефон отдела кадров: нужен номер"),
        ("hr_email", "hr@mailinator.com", "disposable", "Электронная почта отдела кадров:"),
        ("hr_email", "hr.coffee.ru", "format", "Электронная почта отдела кадров:"),
        ("name", "", "missing", "Наименование работодателя: заполните"),
        ("name", "О" * 501, "too_long", "Наименование работодателя: слишком длинное"),
        ("name", "ООО\n«Ромашка»", "format", "Наименование работодателя: значение содержит"),
        ("position", "П" * 201, "too_long", "Должность: слишком длинное значение — не более 200"),
        ("position", "   ", "missing", "Должность: заполните"),
        ("department", "", "missing", "Подразделение: заполните"),
    ],
)
def test_each_wrong_employer_field_is_named(field: str, value: str, code: str, starts: str) -> None:
    values, errors = check(employer=employer(**{field: value}))
    assert [(e.field, e.code) for e in errors] == [(f"employer.{field}", code)]
    assert errors[0].message.startswith(starts)
    assert field not in values["employer"]
    assert values["employer"]["position" if field != "position" else "name"]


def test_the_longest_allowed_texts_pass() -> None:
    values, errors = check(employer=employer(name="О" * 500, position="П" * 200))
    assert errors == []
    assert len(values["employer"]["name"]) == 500


def test_an_organisation_inn_with_an_ogrnip_is_refused_on_the_ogrn() -> None:
    values, errors = check(employer={"inn": LEGAL_INN, "ogrn": IP_OGRNIP})
    assert [(e.field, e.code) for e in errors] == [("employer.ogrn", "kind_mismatch")]
    assert "ИНН из 10 цифр принадлежит организации" in errors[0].message
    assert "ОГРНИП" in errors[0].message
    assert values == {"employer": {"inn": LEGAL_INN}}


def test_an_entrepreneur_inn_with_an_ogrn_is_refused_on_the_ogrn() -> None:
    values, errors = check(employer={"inn": IP_INN, "ogrn": LEGAL_OGRN})
    assert [(e.field, e.code) for e in errors] == [("employer.ogrn", "kind_mismatch")]
    assert "ИНН из 12 цифр принадлежит индивидуальному предпринимателю" in errors[0].message
    assert values == {"employer": {"inn": IP_INN}}


@pytest.mark.parametrize(
    ("field", "labels"),
    [
        ("org_type", ["Головная организация", "Филиал", "Представительство", "Дочерняя"]),
        ("ownership", ["Государственная", "Муниципальная", "Частная"]),
    ],
)
def test_org_type_and_ownership_come_from_fixed_lists(field: str, labels: list[str]) -> None:
    _, errors = check(employer=employer(**{field: "Филиал ООО"}))
    assert [(e.field, e.code) for e in errors] == [(f"employer.{field}", "choice")]
    assert all(label in errors[0].message for label in labels)
    assert errors[0].message.startswith(FIELD_LABELS[f"employer.{field}"] + ":")


@pytest.mark.parametrize(
    ("org_type", "ownership"),
    [("branch", "state"), ("subsidiary", "municipal"), ("representative_office", "private")],
)
def test_every_listed_org_type_and_ownership_is_accepted(org_type: str, ownership: str) -> None:
    values, errors = check(employer={"org_type": org_type, "ownership": ownership})
    assert errors == []
    assert values["employer"] == {"org_type": org_type, "ownership": ownership}


def test_every_wrong_part_of_the_legal_address_has_its_own_path() -> None:
    values, errors = check(
        employer=employer(
            legal_address={"region_code": "80", "postal_code": "1250", "street": "ул. Тверская"}
        )
    )
    found = errors_by_field(errors)
    assert set(found) == {
        "employer.legal_address.region_code",
        "employer.legal_address.postal_code",
        "employer.legal_address.locality",
        "employer.legal_address.house",
    }
    assert found["employer.legal_address.region_code"].code == "unknown_region"
    assert found["employer.legal_address.house"].code == "missing"
    assert found["employer.legal_address.house"].message.startswith(
        "Юридический адрес работодателя — дом:"
    )
    assert "legal_address" not in values["employer"]


@pytest.mark.parametrize(
    ("raw", "code"), [("9876543210987657", "checksum"), ("98765432109876", "format")]
)
def test_the_oms_policy_needs_sixteen_digits_with_luhn(raw: str, code: str) -> None:
    values, errors = check(oms_policy=raw)
    assert [(e.field, e.code) for e in errors] == [("oms_policy", code)]
    assert errors[0].message.startswith("Полис ОМС:")
    assert "oms_policy" not in values


def test_consent_false_is_passed_through_as_not_given() -> None:
    assert check(consent_personal_data=False) == ({"consent_personal_data": False}, [])


@pytest.mark.parametrize("value", ["true", 1, "да"])
def test_consent_must_be_an_explicit_boolean(value: object) -> None:
    with pytest.raises(ValidationError):
        DraftIn.model_validate({"consent_personal_data": value})


def test_unknown_fields_are_refused_by_the_body() -> None:
    with pytest.raises(ValidationError):
        DraftIn.model_validate({"employer": {"kpp": "771001001"}})
    with pytest.raises(ValidationError):
        DraftIn.model_validate({"employer": {"legal_address": {"building": "2"}}})


def test_every_error_is_reported_at_once() -> None:
    values, errors = check(
        employer={
            "name": "",
            "inn": "7710543823",
            "ogrn": "1197746318528",
            "legal_address": {
                "region_code": "00",
                "locality": "г. Москва",
                "street": "ул. Тверская",
                "house": "7",
            },
            "hr_phone": "123",
            "hr_email": "hr@",
            "org_type": "ooo",
            "ownership": "public",
            "department": "",
            "position": "",
        },
        oms_policy="1234",
        consent_personal_data=False,
    )
    assert set(errors_by_field(errors)) == {
        "employer.name",
        "employer.inn",
        "employer.ogrn",
        "employer.legal_address.region_code",
        "employer.hr_phone",
        "employer.hr_email",
        "employer.org_type",
        "employer.ownership",
        "employer.department",
        "employer.position",
        "oms_policy",
    }
    assert values == {"employer": {}, "consent_personal_data": False}


# --- completeness for submission ----------------------------------------------------------


AT = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def draft(**fields: Any) -> Application:
    return Application(
        id="a" * 32, applicant_id="u1", status=Status.DRAFT, created_at=AT, last_changed_at=AT,
        **fields,
    )  # fmt: skip


def complete_application() -> Application:
    return draft(
        employer=Employer(**employer(hr_phone=None, hr_email=None, department=None)),
        oms_policy=OMS,
        consent=Consent(given_at=AT, text_version="1"),
        documents={"passport": Attachment("d1", AT), "oms_policy": Attachment("d2", AT)},
    )


def missing_for_submission(application: Application) -> list[FieldError]:
    errors = FieldErrors()
    application.check_complete([], errors)
    return errors.items


def test_a_complete_application_lacks_nothing() -> None:
    assert missing_for_submission(complete_application()) == []


def test_an_empty_application_lists_every_required_field_and_document() -> None:
    errors = missing_for_submission(draft(employer=Employer(), consent=None, documents={}))
    assert [e.field for e in errors] == [
        "employer.name",
        "employer.inn",
        "employer.ogrn",
        "employer.legal_address",
        "employer.org_type",
        "employer.ownership",
        "employer.position",
        "oms_policy",
        "consent_personal_data",
        "documents.passport",
        "documents.oms_policy",
    ]
    assert {e.code for e in errors} == {"missing"}
    by_field = errors_by_field(errors)
    assert by_field["employer.position"].message.startswith("Должность:")
    assert by_field["documents.passport"].message.startswith("Скан паспорта:")
    assert by_field["documents.oms_policy"].message.startswith("Скан полиса ОМС:")
    consent = by_field["consent_personal_data"].message
    assert "обязательно" in consent
    assert "152-ФЗ" in consent


@pytest.mark.parametrize("field", ["name", "legal_address", "position"])
def test_an_emptied_required_field_is_missing(field: str) -> None:
    application = complete_application()
    blank: Any = {} if field == "legal_address" else ""
    emptied = dataclasses.replace(application.employer, **{field: blank})
    application = dataclasses.replace(application, employer=emptied)
    assert [e.field for e in missing_for_submission(application)] == [f"employer.{field}"]


def test_only_the_exam_certificate_is_optional() -> None:
    application = complete_application()
    documents = {"passport": application.documents["passport"]}
    application = dataclasses.replace(application, documents=documents)
    assert [e.field for e in missing_for_submission(application)] == ["documents.oms_policy"]
    documents["medical_certificate"] = Attachment("d3", AT)
    application = dataclasses.replace(application, documents=documents)
    assert [e.field for e in missing_for_submission(application)] == ["documents.oms_policy"]


def test_labels_name_fields_and_documents() -> None:
    assert label_of("employer.inn") == "ИНН работодателя"
    assert label_of("documents.medical_certificate") == DOCUMENT_LABELS["medical_certificate"]
    assert label_of("consent_personal_data") == "Согласие на обработку персональных данных"
