from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import BaseModel, Field, field_validator

from emk_common.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPE_BASE,
    FieldError,
    Problem,
    install_problem_handlers,
    invalid_value,
    problem_responses,
)


class Employer(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    inn: str

    @field_validator("inn")
    @classmethod
    def _inn_checksum(cls, value: str) -> str:
        if value != "7707083893":
            raise invalid_value("checksum", "Неверная контрольная сумма ИНН")
        return value


class Application(BaseModel):
    employer: Employer
    birth_date: dt.date
    sex: Literal["M", "F"]
    snils: str
    children: int = Field(default=0, ge=0)
    tags: list[str] = Field(default_factory=list)

    @field_validator("snils")
    @classmethod
    def _snils_digits(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError("СНИЛС должен состоять из 11 цифр")
        return value


SECRET = "mongodb://admin:hunter2@db"


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/applications", status_code=201, responses=problem_responses(409))
    async def create(body: Application) -> dict[str, str]:
        return {"snils": body.snils}

    @app.get("/items")
    async def items(page: Annotated[int, Query(ge=1)] = 1) -> dict[str, int]:
        return {"page": page}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 7:
            raise Problem.not_found("Заявление не найдено")
        if item_id == 8:
            raise Problem.conflict("Заявление уже подано", current_state="submitted")
        if item_id == 9:
            raise Problem.rate_limited(12.2)
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"cannot connect to {SECRET}")

    return app


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return build_app()


@pytest.fixture
async def client(app: FastAPI) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def valid_body() -> dict[str, Any]:
    return {
        "employer": {"name": "ООО Ромашка", "inn": "7707083893"},
        "birth_date": "1990-05-17",
        "sex": "F",
        "snils": "11223344595",
    }


def by_field(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {error["field"]: error for error in body["errors"]}


async def test_valid_body_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/applications", json=valid_body())
    assert response.status_code == 201


async def test_every_field_error_is_listed_in_russian(client: httpx.AsyncClient) -> None:
    body = valid_body()
    body["employer"] = {"name": "Очень длинное название", "inn": "1234567890"}
    body["birth_date"] = "17.05.1990"
    body["sex"] = "X"
    body["snils"] = "abc"
    body["children"] = -1
    body["tags"] = ["ok", 5]

    response = await client.post("/applications", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["type"] == PROBLEM_TYPE_BASE + "validation"
    assert problem["title"] == "Ошибка в данных запроса"
    assert problem["status"] == 422
    assert problem["instance"] == "/applications"
    errors = by_field(problem)
    assert set(errors) == {
        "employer.name",
        "employer.inn",
        "birth_date",
        "sex",
        "snils",
        "children",
        "tags.1",
    }
    assert errors["employer.name"] == {
        "field": "employer.name",
        "code": "too_long",
        "message": "Поле «employer.name»: слишком длинное значение: не более 20 символов",
    }
    assert errors["employer.inn"]["code"] == "checksum"
    assert errors["employer.inn"]["message"] == (
        "Поле «employer.inn»: неверная контрольная сумма ИНН"
    )
    assert errors["birth_date"]["code"] == "format"
    assert errors["birth_date"]["message"] == (
        "Поле «birth_date»: дата должна быть в формате ГГГГ-ММ-ДД"
    )
    assert errors["sex"]["code"] == "choice"
    assert errors["sex"]["message"] == "Поле «sex»: допустимые значения: M, F"
    # our validator's message, without pydantic's "Value error, " prefix; acronym kept
    assert errors["snils"] == {
        "field": "snils",
        "code": "invalid",
        "message": "Поле «snils»: СНИЛС должен состоять из 11 цифр",
    }
    assert errors["children"]["code"] == "out_of_range"
    assert errors["children"]["message"] == "Поле «children»: значение должно быть не меньше 0"
    assert errors["tags.1"]["code"] == "type"
    assert "ожидается строка" in errors["tags.1"]["message"]


async def test_missing_fields_and_the_input_is_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/applications", json={"employer": {"name": ""}, "snils": "secret-snils"}
    )

    assert response.status_code == 422
    errors = by_field(response.json())
    assert errors["employer.inn"] == {
        "field": "employer.inn",
        "code": "missing",
        "message": "Поле «employer.inn»: обязательное поле",
    }
    assert errors["employer.name"]["code"] == "too_short"
    assert errors["employer.name"]["message"] == (
        "Поле «employer.name»: значение не может быть пустым"
    )
    assert errors["birth_date"]["code"] == "missing"
    assert errors["sex"]["code"] == "missing"
    assert "secret-snils" not in response.text


async def test_wrong_type_of_nested_object(client: httpx.AsyncClient) -> None:
    body = valid_body() | {"employer": "ООО Ромашка"}
    response = await client.post("/applications", json=body)
    assert by_field(response.json())["employer"] == {
        "field": "employer",
        "code": "type",
        "message": "Поле «employer»: неверный тип значения: ожидается объект",
    }


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/applications", content=b'{"sex": "F",', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["errors"] == [
        {"field": "body", "code": "invalid_json", "message": "Тело запроса — некорректный JSON"}
    ]


async def test_missing_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/applications")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body", "code": "missing", "message": "Тело запроса: обязательное поле"}
    ]


async def test_query_and_path_locations_are_stripped(client: httpx.AsyncClient) -> None:
    query = await client.get("/items", params={"page": "0"})
    path = await client.get("/items/abc")

    assert by_field(query.json())["page"]["message"] == (
        "Поле «page»: значение должно быть не меньше 1"
    )
    assert by_field(path.json())["item_id"] == {
        "field": "item_id",
        "code": "type",
        "message": "Поле «item_id»: неверный тип значения: ожидается целое число",
    }


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["type"] == PROBLEM_TYPE_BASE + "not-found"
    assert problem["title"] == "Не найдено"
    assert "Not Found" not in response.text


async def test_method_not_allowed_keeps_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.delete("/applications")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["allow"] == "POST"
    assert response.json()["detail"] == "Метод DELETE не поддерживается для этого адреса."


async def test_raised_problems(client: httpx.AsyncClient) -> None:
    not_found = await client.get("/items/7")
    conflict = await client.get("/items/8")
    limited = await client.get("/items/9")

    assert not_found.status_code == 404
    assert not_found.json()["detail"] == "Заявление не найдено"
    assert conflict.status_code == 409
    assert conflict.json()["current_state"] == "submitted"
    assert conflict.json()["type"] == PROBLEM_TYPE_BASE + "conflict"
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "13"
    assert limited.headers["content-type"] == PROBLEM_MEDIA_TYPE


async def test_unexpected_error_is_500_without_detail(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="emk_common.problems"):
        response = await client.get("/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["title"] == "Внутренняя ошибка сервиса"
    assert problem["type"] == PROBLEM_TYPE_BASE + "internal"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    # ... the log says what failed and where, but not the message, which quotes data
    [record] = [r for r in caplog.records if r.name == "emk_common.problems.handlers"]
    logged = record.getMessage()
    assert "RuntimeError" in logged
    assert "in boom" in logged
    assert SECRET not in logged
    assert record.exc_info is None


def test_constructors() -> None:
    unauthenticated = Problem.not_authenticated()
    assert unauthenticated.status == 401
    assert unauthenticated.headers == {"WWW-Authenticate": "Bearer"}
    assert Problem.forbidden().type == PROBLEM_TYPE_BASE + "forbidden"
    too_large = Problem.payload_too_large(5 * 1024 * 1024)
    assert too_large.status == 413
    assert too_large.detail == "Размер запроса превышает допустимый: не более 5 МБ."
    media = Problem.unsupported_media_type(["application/pdf", "image/png"])
    assert media.status == 415
    assert media.to_dict()["allowed"] == ["application/pdf", "image/png"]
    unavailable = Problem.unavailable(retry_after_seconds=0.2)
    assert (unavailable.status, unavailable.headers["Retry-After"]) == (503, "1")
    error = FieldError.of("passport.number", "not_found", "Паспорт не найден в реестре")
    problem = Problem.validation([error])
    assert problem.to_dict()["errors"] == [
        {
            "field": "passport.number",
            "code": "not_found",
            "message": "Поле «passport.number»: паспорт не найден в реестре",
        }
    ]


def test_extensions_may_not_shadow_standard_members() -> None:
    with pytest.raises(ValueError, match="status"):
        Problem(409, extensions={"status": "draft"})


def test_openapi_documents_problems_instead_of_httpvalidationerror(app: FastAPI) -> None:
    schema = app.openapi()

    create = schema["paths"]["/applications"]["post"]["responses"]
    for status in ("422", "409"):
        content = create[status]["content"]
        assert list(content) == [PROBLEM_MEDIA_TYPE]
        assert content[PROBLEM_MEDIA_TYPE]["schema"] == {"$ref": "#/components/schemas/Problem"}
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert set(components["Problem"]["required"]) == {"type", "title", "status", "detail"}
    assert "FieldError" in components
    assert app.openapi() is schema
