"""Using the validators from pydantic models, and what the API layer makes of the errors."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

import emk_identifiers as ids
from emk_identifiers import InvalidFields, InvalidIdentifier, as_pydantic_error, as_validation_error


def checked(validate: Callable[[str], str], value: str) -> str:
    try:
        return validate(value)
    except InvalidIdentifier as exc:
        raise as_pydantic_error(exc) from exc


class Registration(BaseModel):
    last_name: str
    snils: str
    phone: str
    email: str
    password: str
    address: dict[str, Any]

    @field_validator("last_name")
    @classmethod
    def _last_name(cls, value: str) -> str:
        return checked(lambda v: ids.person_name_part(v, field="last_name", required=True), value)

    @field_validator("snils")
    @classmethod
    def _snils(cls, value: str) -> str:
        return checked(ids.snils, value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return checked(ids.phone, value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return checked(ids.email, value)

    @field_validator("address")
    @classmethod
    def _address(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(ids.address(value))
        except InvalidFields as exc:
            raise as_validation_error(exc) from exc

    @model_validator(mode="after")
    def _password(self) -> Registration:
        try:
            ids.password_strength(self.password, email=self.email, phone=self.phone)
        except InvalidIdentifier as exc:
            raise as_pydantic_error(exc) from exc
        return self


GOOD: dict[str, Any] = {
    "last_name": " Иванов ",
    "snils": "112-233-445 95",
    "phone": "8 (999) 123-45-67",
    "email": "Ivanov@Mail.ru",
    "password": "кот-Бегемот-примус-1931",
    "address": {"region_code": "77", "locality": "г. Москва", "street": "Тверская", "house": "7"},
}


def test_valid_values_come_out_normalised() -> None:
    model = Registration.model_validate(GOOD)
    assert model.last_name == "Иванов"
    assert model.snils == "11223344595"
    assert model.phone == "+79991234567"
    assert model.email == "ivanov@mail.ru"


def test_as_pydantic_error_carries_the_code_and_the_message() -> None:
    exc = InvalidIdentifier("checksum", "СНИЛС: неверное контрольное число.")
    error = as_pydantic_error(exc)
    assert isinstance(error, PydanticCustomError)
    assert error.type == "checksum"
    assert error.message() == "СНИЛС: неверное контрольное число."
    assert isinstance(exc, ValueError)
    assert str(exc) == exc.message


def test_errors_of_every_field_with_codes() -> None:
    data = {
        **GOOD,
        "last_name": "Иванoв",
        "snils": "112-233-445 96",
        "phone": "+380991234567",
        "email": "x@mailinator.com",
        "address": {"region_code": "80", "postal_code": "1", "locality": "Москва", "house": "7"},
    }
    with pytest.raises(ValidationError) as caught:
        Registration.model_validate(data)
    errors = {".".join(map(str, e["loc"])): (e["type"], e["msg"]) for e in caught.value.errors()}
    assert {field: code for field, (code, _) in errors.items()} == {
        "last_name": "latin_letters",
        "snils": "checksum",
        "phone": "country",
        "email": "disposable",
        "address.region_code": "unknown_region",
        "address.postal_code": "format",
        "address.street": "missing",
    }
    assert errors["snils"][1] == (
        "СНИЛС: неверное контрольное число. Проверьте номер — 11 цифр, например 112-233-445 95."
    )


def test_model_level_password_error_does_not_leak_the_password() -> None:
    with pytest.raises(ValidationError) as caught:
        Registration.model_validate({**GOOD, "password": "ivanov-1234567"})
    (error,) = caught.value.errors()
    assert error["type"] == "contains_personal"
    assert "ivanov-1234567" not in error["msg"]


def test_invalid_fields_needs_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        InvalidFields([])


def test_as_validation_error_does_not_copy_the_inputs() -> None:
    error = as_validation_error(InvalidFields([("house", "missing", "Дом: обязательное поле.")]))
    assert error.errors() == [
        {"type": "missing", "loc": ("house",), "msg": "Дом: обязательное поле.", "input": None}
    ]


# What emk_common's field-error translation (the 422's ``errors``) makes of our errors.
needs_common = pytest.mark.skipif(
    importlib.util.find_spec("emk_common") is None, reason="emk_common is not installed"
)


def api_errors(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    from emk_common.field_errors import field_errors_from_pydantic

    with pytest.raises(ValidationError) as caught:
        Registration.model_validate(data)
    errors = field_errors_from_pydantic(caught.value.errors(), from_request=False)
    return {e.field: (e.code, e.message) for e in errors}


@needs_common
def test_api_layer_keeps_our_codes_and_messages() -> None:
    errors = api_errors(
        {**GOOD, "snils": "112-233-445 96", "address": {**GOOD["address"], "region_code": "00"}}
    )
    assert errors["snils"] == (
        "checksum",
        "Поле «snils»: СНИЛС: неверное контрольное число. "
        "Проверьте номер — 11 цифр, например 112-233-445 95.",
    )
    code, message = errors["address.region_code"]
    assert code == "unknown_region"
    # The API layer lower-cases the first word after the field: «код региона».
    assert message.startswith(
        "Поле «address.region_code»: код региона: субъекта РФ с кодом 00 нет."
    )


class NewPassword(BaseModel):
    password: str

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        return checked(lambda v: ids.password_strength(v, email=None, phone=None), value)


@needs_common
def test_api_layer_keeps_a_code_that_is_also_a_pydantic_type() -> None:
    from emk_common.field_errors import field_errors_from_pydantic

    with pytest.raises(ValidationError) as caught:
        NewPassword.model_validate({"password": "short"})
    (error,) = caught.value.errors()
    assert error["type"] == "too_short"  # what pydantic reports is right …
    (field_error,) = field_errors_from_pydantic(caught.value.errors(), from_request=False)
    assert field_error.code == "too_short"
    # … but the message becomes «слишком мало элементов: нужно не менее 1 элемента».
    assert field_error.message == (
        "Поле «password»: пароль: слишком короткий — нужно не менее 10 символов."
    )
