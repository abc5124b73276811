"""Every error of an app becomes a problem document: ours, FastAPI's validation errors,
Starlette's routing errors, and anything unexpected (a 500, logged without its message)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emk_common.field_errors import (
    FieldError,
    InvalidFieldsError,
    field_errors_from_pydantic,
)
from emk_common.problems.openapi import _document_problems
from emk_common.problems.problem import Problem
from emk_common.redaction import redacted_path

_log = logging.getLogger(__name__)

# --- handlers -----------------------------------------------------------------


async def _on_problem(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, Problem):  # pragma: no cover - registered for Problem only
        raise exc
    if exc.status >= 500:
        path = redacted_path(request.app, request.url.path)
        _log.warning("problem %s on %s %s", exc.status, request.method, path)
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
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        return Problem.validation([_unparsable_body(request)]).to_response(request.url.path)
    detail = None
    if exc.status_code == 405:
        detail = f"Метод {request.method} не поддерживается для этого адреса."
    problem = Problem(exc.status_code, detail=detail, headers=exc.headers)
    return problem.to_response(request.url.path)


# FastAPI's 400 for a body it could not even decode (JSON that is not UTF-8, a broken form): to
# the caller it is bad input like any other, a 422 naming the body.
_UNPARSABLE_BODY = "There was an error parsing the body"


def _unparsable_body(request: Request) -> FieldError:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return FieldError(
            field="body", code="invalid_json", message="Тело запроса — некорректный JSON"
        )
    return FieldError(
        field="body", code="invalid_body", message="Тело запроса не удалось разобрать"
    )


def _internal_error(path: str) -> Response:
    return Problem(500).to_response(path)


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    # Only reached for errors raised outside _UnhandledErrors (a middleware added
    # after install_problem_handlers); Starlette re-raises after sending this.
    _log_unhandled(request.method, redacted_path(request.app, request.url.path), exc)
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
            special = None if started else _special_answer(scope, exc, path)
            if special is not None:  # a failure some part of the platform knows how to answer
                await special(scope, receive, send)
                return
            _log_unhandled(scope.get("method"), redacted_path(scope.get("app"), path), exc)
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attribute("exception.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            if started:  # too late for another response; let the server drop the connection
                raise
            await _internal_error(path)(scope, receive, send)


SpecialAnswer = Callable[[BaseException, Scope, str], Response | None]
"""Given an exception that reached the guard, the request's scope and path: the answer it
gets instead of a 500 (and the answerer logs it as it sees fit), or None."""


def answer_specially(app: Starlette, answer: SpecialAnswer) -> None:
    """Let the 500 guard give ``answer``'s response to the exceptions it recognises (the
    503 of an unreachable dependency: :func:`emk_common.unavailable.install_unavailable`).
    One guard, so an exception is caught, logged and answered in one place."""
    answers: list[SpecialAnswer] = getattr(app.state, _ANSWERS, None) or []
    answers.append(answer)
    setattr(app.state, _ANSWERS, answers)


_ANSWERS = "problem_special_answers"


def _special_answer(scope: Scope, exc: BaseException, path: str) -> Response | None:
    app = scope.get("app")
    answers: list[SpecialAnswer] = getattr(getattr(app, "state", None), _ANSWERS, None) or []
    for answer in answers:
        found = answer(exc, scope, path)
        if found is not None:
            return found
    return None


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem document; call before the app starts."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(InvalidFieldsError, _on_invalid_fields)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unhandled)
    app.add_middleware(_UnhandledErrors)
    _document_problems(app)
