"""The problem itself: a status, a stable English ``type`` code, Russian title and detail,
and the field errors of a 422."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from emk_common.field_errors import (
    FieldError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://emk.example/problems/"

_STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "errors"})

# status -> (type code, Russian title, default Russian detail)
_STATUS_DEFAULTS: dict[int, tuple[str, str, str]] = {
    400: ("bad-request", "Некорректный запрос", "Запрос не может быть обработан."),
    401: ("not-authenticated", "Требуется аутентификация", "Нужен действительный токен доступа."),
    403: ("forbidden", "Доступ запрещён", "Недостаточно прав для этого действия."),
    404: ("not-found", "Не найдено", "Запрошенный ресурс не существует."),
    405: ("method-not-allowed", "Метод не поддерживается", "Метод не поддерживается."),
    406: ("not-acceptable", "Формат ответа недоступен", "Запрошенный формат ответа недоступен."),
    409: ("conflict", "Конфликт состояния", "Действие невозможно в текущем состоянии."),
    413: ("payload-too-large", "Слишком большой запрос", "Размер запроса превышает допустимый."),
    415: (
        "unsupported-media-type",
        "Неподдерживаемый тип содержимого",
        "Тип содержимого не поддерживается.",
    ),
    422: ("validation", "Ошибка в данных запроса", "Проверьте правильность заполнения полей."),
    429: ("rate-limited", "Слишком много запросов", "Слишком много запросов."),
    500: (
        "internal",
        "Внутренняя ошибка сервиса",
        "Произошла непредвиденная ошибка. Повторите попытку позже.",
    ),
    503: (
        "unavailable",
        "Сервис временно недоступен",
        "Сервис временно недоступен. Повторите попытку позже.",
    ),
}


class Problem(Exception):  # noqa: N818 - RFC 9457 calls it a problem
    """An HTTP error a route raises; rendered as ``application/problem+json``.

    ``extensions`` are extra members of the document (RFC 9457 §3.2), e.g. the current
    state of a resource in a 409.
    """

    def __init__(
        self,
        status: int,
        *,
        code: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        default_code, default_title, default_detail = _STATUS_DEFAULTS.get(
            status, (f"http-{status}", "Ошибка запроса", "Запрос не может быть обработан.")
        )
        self.status = status
        self.code = code or default_code
        self.title = title or default_title
        self.detail = detail or default_detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})
        clash = _STANDARD_MEMBERS & self.extensions.keys()
        if clash:
            raise ValueError(f"extension members shadow standard ones: {sorted(clash)}")
        super().__init__(f"{status} {self.code}: {self.detail}")

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_BASE + self.code

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [error.model_dump() for error in self.errors]
        body.update(self.extensions)
        return body

    def to_response(self, instance: str | None = None) -> Response:
        if self.status in (204, 304):  # a body is not allowed
            return Response(status_code=self.status, headers=self.headers)
        return JSONResponse(
            self.to_dict(instance),
            status_code=self.status,
            headers=self.headers,
            media_type=PROBLEM_MEDIA_TYPE,
        )

    # --- the statuses of API.md --------------------------------------------------

    @classmethod
    def bad_request(cls, detail: str) -> Problem:
        return cls(400, detail=detail)

    @classmethod
    def not_authenticated(cls, detail: str | None = None) -> Problem:
        # RFC 6750 §3: a 401 tells the client which scheme to use.
        return cls(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})

    @classmethod
    def forbidden(cls, detail: str | None = None) -> Problem:
        return cls(403, detail=detail)

    @classmethod
    def not_found(cls, detail: str | None = None) -> Problem:
        """Unknown, or someone else's: the two must look the same to the caller."""
        return cls(404, detail=detail)

    @classmethod
    def conflict(cls, detail: str, *, current_state: str | None = None) -> Problem:
        extensions = {"current_state": current_state} if current_state is not None else None
        return cls(409, detail=detail, extensions=extensions)

    @classmethod
    def payload_too_large(cls, max_bytes: int) -> Problem:
        return cls(
            413,
            detail=f"Размер запроса превышает допустимый: не более {_human_size(max_bytes)}.",
            extensions={"max_bytes": max_bytes},
        )

    @classmethod
    def unsupported_media_type(cls, allowed: Sequence[str], detail: str | None = None) -> Problem:
        return cls(
            415,
            detail=detail or f"Допустимые типы содержимого: {', '.join(allowed)}.",
            extensions={"allowed": list(allowed)},
        )

    @classmethod
    def validation(cls, errors: Sequence[FieldError], detail: str | None = None) -> Problem:
        return cls(422, detail=detail, errors=errors)

    @classmethod
    def rate_limited(cls, retry_after_seconds: float) -> Problem:
        seconds = max(1, math.ceil(retry_after_seconds))
        return cls(
            429,
            detail=f"Слишком много попыток. Повторите через {seconds} с.",
            headers={"Retry-After": str(seconds)},
        )

    @classmethod
    def unavailable(
        cls, detail: str | None = None, *, retry_after_seconds: float | None = None
    ) -> Problem:
        headers = None
        if retry_after_seconds is not None:
            headers = {"Retry-After": str(max(1, math.ceil(retry_after_seconds)))}
        return cls(503, detail=detail, headers=headers)


def _human_size(size: int) -> str:
    mib = 1024 * 1024
    if size >= mib and size % mib == 0:
        return f"{size // mib} МБ"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} КБ"
    return f"{size} байт"


class ProblemDocument(BaseModel):
    """The schema of a problem document, for OpenAPI."""

    model_config = ConfigDict(title="Problem", extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
