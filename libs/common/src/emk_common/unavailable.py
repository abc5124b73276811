"""A dependency that does not answer makes a 503 with ``Retry-After`` — not a hang, a 500 or
a 401.

MongoDB, S3 and identity's keys are bounded where their clients are made
(:mod:`emk_common.mongo`, :mod:`emk_common.s3`, :mod:`emk_common.auth.keys`), so a call to one
that is away or frozen fails within about a second with its client's own exception.
:func:`install_unavailable` turns those exceptions, wherever the request path raises them (a
route, a dependency, the idempotency middleware), into one problem document: ``503``,
``Retry-After``, «Сервис временно недоступен, повторите через N с.». Code of ours that knows a
dependency is away raises :class:`DependencyUnavailableError` (a :class:`Problem`) instead.

Each failure is logged once, naming the dependency and the exception's type — never its
message, which may quote a query, a document id or a connection string.
"""

from __future__ import annotations

import logging
import math

import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError
from pymongo.errors import ConnectionFailure, PyMongoError
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import Scope

from emk_common.problems import Problem
from emk_common.problems.handlers import answer_specially
from emk_common.redaction import redacted_path

__all__ = [
    "DependencyUnavailableError",
    "dependency_of",
    "install_unavailable",
    "unavailable",
]

_log = logging.getLogger(__name__)

# S3's own words for "not now" (an answer, so S3 is there, but it cannot serve).
_S3_BUSY = frozenset({"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout"})
_URLLIB3_UNREACHABLE = (
    urllib3.exceptions.MaxRetryError,  # what a bounded retry ends with: its reason is one below
    urllib3.exceptions.TimeoutError,  # connect and read timeouts
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ProtocolError,  # the connection dropped mid-answer
)


def unavailable(retry_after_seconds: float) -> Problem:
    """The 503 every unreachable dependency answers with."""
    seconds = max(1, math.ceil(retry_after_seconds))
    return Problem.unavailable(
        f"Сервис временно недоступен, повторите через {seconds} с.",
        retry_after_seconds=seconds,
    )


class DependencyUnavailableError(Problem):
    """Raised by our code when ``dependency`` cannot be reached (identity's keys, say): the
    503 of :func:`unavailable`. A request that cannot be checked is not refused with a 401;
    the client is told to come back."""

    def __init__(self, dependency: str, retry_after_seconds: float) -> None:
        answer = unavailable(retry_after_seconds)
        super().__init__(503, detail=answer.detail, headers=answer.headers)
        self.dependency = dependency


def dependency_of(exc: BaseException) -> str | None:
    """Which dependency ``exc`` says is unreachable (``"mongodb"``, ``"s3"``, ``"network"``),
    or None when it is not an infrastructure failure (a bug, a duplicate key, a bad query)."""
    if isinstance(exc, BaseExceptionGroup):
        found = [dependency_of(inner) for inner in exc.exceptions]
        return found[0] if found and all(found) else None
    if isinstance(exc, PyMongoError):
        # ConnectionFailure: AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError,
        # WaitQueueTimeoutError, NotPrimaryError. ``timeout``: the operation's budget ran out
        # (ExecutionTimeout, a write concern's timeout) — MongoDB too slow to answer in time.
        return "mongodb" if isinstance(exc, ConnectionFailure) or exc.timeout else None
    if isinstance(exc, S3Error):
        status = getattr(exc.response, "status", 0) or 0
        return "s3" if exc.code in _S3_BUSY or status >= 500 else None
    if isinstance(exc, ServerError):
        return "s3"
    if isinstance(exc, InvalidResponseError):  # not S3's XML: a proxy's 502/503 page, say
        return "s3" if int(getattr(exc, "_code", 0) or 0) >= 500 else None
    if isinstance(exc, _URLLIB3_UNREACHABLE):
        return "s3"
    if isinstance(exc, ConnectionError):  # refused, reset, aborted
        return "network"
    return None


def install_unavailable(app: Starlette, retry_after_seconds: int = 5) -> None:
    """Answer 503 with ``Retry-After: retry_after_seconds`` for an unreachable dependency,
    through the one guard of :mod:`emk_common.problems.handlers` (which answers anything else
    with a 500). An answer already started (a download cut off) cannot be replaced: the
    exception goes on."""

    def answer(exc: BaseException, scope: Scope, path: str) -> Response | None:
        dependency = dependency_of(exc)
        if dependency is None:
            return None
        _log.warning(
            "%s unavailable (%s) on %s %s: answered 503",
            dependency,
            type(exc).__name__,
            scope.get("method"),
            redacted_path(scope.get("app"), path),
        )
        return unavailable(retry_after_seconds).to_response(path)

    answer_specially(app, answer)
