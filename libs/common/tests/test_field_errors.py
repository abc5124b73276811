from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator

from emk_common.field_errors import FieldError, field_errors_from_pydantic, invalid_value


def errors_of(model: type[BaseModel], data: dict[str, Any]) -> dict[str, FieldError]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    errors = field_errors_from_pydantic(caught.value.errors(), from_request=False)
    return {e.field: e for e in errors}


@pytest.mark.parametrize(
    ("length", "words"),
    [
        (1, "1 символа"),
        (2, "2 символов"),
        (5, "5 символов"),
        (11, "11 символов"),
        (21, "21 символа"),
        (24, "24 символов"),
        (101, "101 символа"),
        (111, "111 символов"),
    ],
)
def test_counted_nouns_in_length_messages(length: int, words: str) -> None:
    class Short(BaseModel):
        text: str = Field(max_length=length)

    error = errors_of(Short, {"text": "x" * (length + 1)})["text"]
    assert error.message == f"Поле «text»: слишком длинное значение: не более {words}"


def test_list_length_and_integer_bounds() -> None:
    class Preferences(BaseModel):
        reminders_days_before: list[int] = Field(min_length=1, max_length=3)
        page: int = Field(lt=100)

    errors = errors_of(Preferences, {"reminders_days_before": [1, 2, 3, 4], "page": 100})
    assert errors["reminders_days_before"].code == "too_long"
    assert errors["reminders_days_before"].message == (
        "Поле «reminders_days_before»: слишком много элементов: допускается не более 3 элементов"
    )
    assert errors["page"].message == "Поле «page»: значение должно быть меньше 100"


def test_integer_literals_and_booleans() -> None:
    class Choice(BaseModel):
        days: Literal[7, 30, 90]
        sms: bool

    errors = errors_of(Choice, {"days": 14, "sms": "maybe"})
    assert errors["days"].message == "Поле «days»: допустимые значения: 7, 30, 90"
    assert errors["sms"].code == "type"
    assert "логическое значение" in errors["sms"].message


def test_custom_code_is_kept_and_first_letter_lowered() -> None:
    class Passport(BaseModel):
        division_code: str

        @field_validator("division_code")
        @classmethod
        def _format(cls, value: str) -> str:
            raise invalid_value("format", "Код подразделения — в формате 000-000 {не шаблон}")

    error = errors_of(Passport, {"division_code": "770001"})["division_code"]
    assert error == FieldError(
        field="division_code",
        code="format",
        message="Поле «division_code»: код подразделения — в формате 000-000 {не шаблон}",
    )


def test_unknown_builtin_error_gets_a_generic_message() -> None:
    [error] = field_errors_from_pydantic(
        [{"type": "complex_type", "loc": ("body", "z"), "msg": "Input should be complex"}]
    )
    assert error.code == "complex_type"
    assert error.message == "Поле «z»: недопустимое значение (код ошибки: complex_type)"
    assert "Input should" not in error.message


def test_model_level_error_points_at_the_location() -> None:
    [error] = field_errors_from_pydantic(
        [
            {
                "type": "value_error",
                "loc": ("body",),
                "msg": "Value error, Укажите телефон или e-mail",
            }
        ]
    )
    assert error == FieldError(
        field="body", code="invalid", message="Тело запроса: укажите телефон или e-mail"
    )


def test_a_field_named_like_a_location_is_kept_outside_requests() -> None:
    class Link(BaseModel):
        path: str

    assert errors_of(Link, {})["path"].message == "Поле «path»: обязательное поле"
