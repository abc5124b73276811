"""The edge of every service's HTTP (:func:`emk_common.service.create_app` installs it):

* **No request body is read past its limit.** A declared ``Content-Length`` over the limit
  is refused with 413 before a byte of the body is read; a chunked body is counted as it
  streams and cut off with 413 the moment it passes the limit, never buffered whole. The
  limit is ``EMK_MAX_BODY_BYTES`` (64 KB); a route that needs more (a multipart upload,
  which enforces its own, tighter rules while it streams) is given its own by the service
  (``create_app(body_limits={path: bytes})``).
* **A JSON endpoint takes JSON.** A body of another media type (``text/plain``, a form, or
  no ``Content-Type`` at all) sent to a route whose body is a JSON model is a 415, not a
  422 about fields the client never sent as JSON. ``application/json`` (with any
  parameters) and ``application/*+json`` are JSON; routes that read their body themselves
  (the multipart upload) keep their own rules.
* **Headers of every answer.** ``X-Content-Type-Options: nosniff`` on every answer, and
  ``Cache-Control: no-store`` on every answer of the ``/api/`` and ``/internal/`` routes
  (they carry personal data and tokens) unless the route set its own ``Cache-Control``.

Pure ASGI, no buffering: a request without a body costs a scan of its headers and one
wrapped ``send``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import params
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emk_common.problems import Problem

DEFAULT_MAX_BODY_BYTES = 64 * 1024
JSON_MEDIA_TYPE = "application/json"

# Paths whose answers hold personal data or tokens: never stored by a cache on the way.
_PRIVATE_PREFIXES = ("/api/", "/internal/")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_NOT_JSON = "Тело запроса должно быть в формате JSON (заголовок Content-Type: application/json)."

_log = logging.getLogger(__name__)


class HttpGuard:
    """See the module docstring. ``body_limits`` maps exact request paths to their limits."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        if max_body_bytes < 1 or any(limit < 1 for limit in (body_limits or {}).values()):
            raise ValueError("a body limit is a positive number of bytes")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})
        self._json_routes: list[APIRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        send = _headers_added(send, path.startswith(_PRIVATE_PREFIXES))
        declared: int | None = None
        has_body = False
        content_type: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = _length(value)
                has_body = has_body or declared != 0
            elif name == b"transfer-encoding":
                has_body = True
            elif name == b"content-type":
                content_type = value
        if not has_body:
            await self.app(scope, receive, send)
            return
        limit = self.body_limits.get(path, self.max_body_bytes)
        if declared is not None and declared > limit:
            await _answer(Problem.payload_too_large(limit), scope, receive, send)
            return
        if not _is_json(content_type) and self._json_route(scope) is not None:
            problem = Problem.unsupported_media_type([JSON_MEDIA_TYPE], _NOT_JSON)
            await _answer(problem, scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app, counting its body as it reads it; past ``limit``, answer 413."""
        received = 0
        started = False  # the app's answer has begun: too late for ours
        answered = False  # ours was sent: whatever the app sends after is dropped
        refused = False

        async def receive_counted() -> Message:
            nonlocal received, refused, answered
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The chunk that passed the limit never reaches the app. To the app the
                    # client is gone (what a reader of a body already handles: FastAPI's,
                    # the idempotency keys', a multipart parser's), so nothing reads on.
                    refused = True
                    if not started:
                        await _answer(Problem.payload_too_large(limit), scope, receive, send)
                        answered = True
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_answered(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_counted, send_unless_answered)
        except Exception:
            if not answered:
                raise
            # The body was cut off and answered; what the route made of that is of no use.
            _log.debug("request body over the limit on %s %s", scope["method"], scope["path"])

    def _json_route(self, scope: Scope) -> APIRoute | None:
        """The route with a JSON body model that would take the request, if any."""
        if self._json_routes is None:
            app = scope.get("app")
            routes = getattr(app, "routes", None) or []
            self._json_routes = [route for route in routes if _takes_json(route)]
        for route in self._json_routes:
            if route.matches(scope)[0] is Match.FULL:
                return route
        return None


def _takes_json(route: Any) -> bool:
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    return not isinstance(route.body_field.field_info, params.Form)  # File is a Form too


def _length(value: bytes) -> int | None:
    """A declared ``Content-Length``; one too long to parse is simply too large."""
    if not value.isdigit():
        return None  # malformed (the server refuses it first): the body is counted anyway
    return int(value) if len(value) < 19 else 1 << 63


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


def _with_headers(message: Message, private: bool) -> Message:
    headers = list(message.get("headers", ()))
    nosniff = cache_control = False
    for name, _ in headers:
        lowered = name.lower()
        if lowered == b"x-content-type-options":
            nosniff = True
        elif lowered == b"cache-control":
            cache_control = True
    if not nosniff:
        headers.append(_NOSNIFF)
    if private and not cache_control:
        headers.append(_NO_STORE)
    return {**message, "headers": headers}


def _headers_added(send: Send, private: bool) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = _with_headers(message, private)
        await send(message)

    return sending


async def _answer(problem: Problem, scope: Scope, receive: Receive, send: Send) -> None:
    await problem.to_response(scope["path"])(scope, receive, send)
