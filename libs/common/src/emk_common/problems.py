"""RFC 9457 ``application/problem+json`` errors, the one error shape of every service.

A route raises :class:`Problem` (usually through a constructor such as
``Problem.not_found()``); :func:`install_problem_handlers` turns it, FastAPI's validation
errors, Starlette's routing errors and any unexpected exception into a problem document.
Titles and details are Russian because people read them; ``type`` and field ``code``
are stable English identifiers for programs.
"""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emk_common.field_errors import (
    FieldError,
    InvalidFieldsError,
    field_errors_from_pydantic,
    invalid_value,
)

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_BASE",
    "FieldError",
    "Problem",
    "ProblemDocument",
    "install_problem_handlers",
    "invalid_value",
    "problem_responses",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://emk.example/problems/"

_log = logging.getLogger(__name__)
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


# --- handlers -----------------------------------------------------------------


async def _on_problem(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, Problem):  # pragma: no cover - registered for Problem only
        raise exc
    if exc.status >= 500:
        _log.warning("problem %s on %s %s", exc.status, request.method, request.url.path)
    return exc.to_response(request.url.path)


async def _on_request_validation(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    problem = Problem.validation(field_errors_from_pydantic(exc.errors()))
    return problem.to_response(request.url.path)


async def _on_invalid_fields(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, InvalidFieldsError):  # pragma: no cover
        raise exc
    return Problem.validation(exc.errors, exc.detail).to_response(request.url.path)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method, FastAPI's security classes).

    Their ``detail`` is English framework text, so it is replaced by our Russian one;
    routes of ours raise :class:`Problem`, never ``HTTPException``.
    """
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        raise exc
    detail = None
    if exc.status_code == 405:
        detail = f"Метод {request.method} не поддерживается для этого адреса."
    problem = Problem(exc.status_code, detail=detail, headers=exc.headers)
    return problem.to_response(request.url.path)


def _internal_error(path: str) -> Response:
    return Problem(500).to_response(path)


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    # Only reached for errors raised outside _UnhandledErrors (a middleware added
    # after install_problem_handlers); Starlette re-raises after sending this.
    _log_unhandled(request.method, request.url.path, exc)
    return _internal_error(request.url.path)


def _log_unhandled(method: object, path: str, exc: BaseException) -> None:
    """The exception's type and where it was raised — not its message, which may quote
    the data being handled (a duplicate key, a value that failed to parse)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    _log.error("unhandled %s on %s %s\n%s", type(exc).__name__, method, path, frames.rstrip())


class _UnhandledErrors:
    """Turns an unexpected exception into a 500 problem, logged once, nothing leaked.

    A plain ``exception_handler(Exception)`` runs in Starlette's ServerErrorMiddleware,
    which re-raises after responding: the server logs a second traceback, and test
    clients see the exception instead of the response. This middleware stops it here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            path = str(scope.get("path", ""))
            _log_unhandled(scope.get("method"), path, exc)
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attribute("exception.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            if started:  # too late for another response; let the server drop the connection
                raise
            await _internal_error(path)(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem document; call before the app starts."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(InvalidFieldsError, _on_invalid_fields)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unhandled)
    app.add_middleware(_UnhandledErrors)
    _document_problems(app)


# --- OpenAPI ------------------------------------------------------------------

_PROBLEM_REF = "#/components/schemas/Problem"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route, documenting its problem statuses::

    @router.post("/{id}/submit", responses=problem_responses(404, 409))
    """
    return {
        status: {
            "description": _STATUS_DEFAULTS.get(status, ("", "Ошибка", ""))[1],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
        }
        for status in statuses
    }


def _document_problems(app: FastAPI) -> None:
    """Replace FastAPI's default 422 schema (HTTPValidationError) with the problem schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _rewrite_openapi(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _rewrite_openapi(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if responses and "422" in responses:
                responses["422"] = problem_responses(422)[422]
    text = repr(schema)
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}'" not in text:
            components.pop(name, None)
