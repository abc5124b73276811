"""The pure ASGI middleware: claims a key, runs the route, stores or replays its answer."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emk_common.auth import AccessTokenVerifier, remember_principal
from emk_common.field_errors import FieldError
from emk_common.idempotency.keys import _INVALID_KEY, HEADER, REPLAYED_HEADER, _Keyed, parse_key
from emk_common.idempotency.store import Doc, IdempotencyStore
from emk_common.problems import Problem

_METHODS = frozenset({"POST", "PATCH"})
_HEADER_NAME = HEADER.lower().encode()
# Answers a retry should get afresh: the server's trouble, the caller's credentials, a limit.
# 413 too: it is usually sent before the body is read, and storing it would mean reading
# (and, behind "Expect: 100-continue", inviting) the body the route refused to take.
_NOT_STORED = frozenset({401, 403, 408, 413, 429})
# Per-connection headers the server sets itself on every answer.
_NOT_REPLAYED = frozenset({b"date", b"server", b"connection", b"keep-alive", b"transfer-encoding"})

_MIB = 1024 * 1024

_IN_PROGRESS = "Запрос с этим ключом идемпотентности ещё выполняется. Повторите его через секунду."
_REUSED = (
    "Ключ идемпотентности уже использован для другого запроса. Для нового запроса нужен новый ключ."
)

_log = logging.getLogger(__name__)

VerifierSource = Callable[[], AccessTokenVerifier | None]


@dataclass
class _Body:
    """The request body as it goes by: its hash and size, never its bytes."""

    limit: int
    sha256: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    complete: bool = False
    disconnected: bool = False

    def feed(self, message: Message) -> None:
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size <= self.limit:  # past it nothing will be stored: stop hashing
                self.sha256.update(chunk)
            self.complete = not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self.disconnected = True

    @property
    def within_limit(self) -> bool:
        return self.size <= self.limit

    async def drain(self, receive: Receive) -> bool:
        """Read what the route left unread; ``True`` if the whole body was hashed."""
        while not (self.complete or self.disconnected) and self.within_limit:
            self.feed(await receive())
        return self.complete and self.within_limit


class IdempotencyMiddleware:
    """Pure ASGI (no buffering of the request): see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: IdempotencyStore,
        verifier: VerifierSource = lambda: None,
        max_request_bytes: int = 8 * _MIB,
        max_response_bytes: int = _MIB,
    ) -> None:
        self.app = app
        self.store = store
        self.verifier = verifier
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS:
            await self.app(scope, receive, send)
            return
        values = [value for name, value in scope["headers"] if name == _HEADER_NAME]
        if not values:
            await self.app(scope, receive, send)
            return
        key = parse_key(values)
        if key is None:
            await _answer(
                Problem(400, code="invalid-idempotency-key", detail=_INVALID_KEY),
                scope,
                receive,
                send,
            )
            return
        caller = await self._caller(scope)
        if caller is None:
            await self.app(scope, receive, send)
            return
        keyed = _Keyed.of(caller, key)
        claim = await self.store.claim(keyed.record_id, scope["method"], scope["path"])
        if claim.owner is not None:
            await self._first(scope, receive, send, keyed, claim.owner)
            return
        record = claim.record
        assert record is not None
        if (record["method"], record["path"]) != (scope["method"], scope["path"]):
            await _answer(_reused(), scope, receive, send)
        elif record["state"] == "processing":
            problem = Problem(
                409,
                code="idempotency-key-in-progress",
                detail=_IN_PROGRESS,
                headers={"Retry-After": "1"},
            )
            await _answer(problem, scope, receive, send)
        else:
            await self._repeat(scope, receive, send, keyed, record)

    async def _caller(self, scope: Scope) -> str | None:
        """Whose key it is: ``user:<id>``, ``anonymous``, or ``None`` to leave it to the route."""
        authorization = [value for name, value in scope["headers"] if name == b"authorization"]
        if not authorization:
            return "anonymous"
        verifier = self.verifier()
        scheme, _, token = authorization[0].decode("latin-1").partition(" ")
        if len(authorization) != 1 or verifier is None or scheme.lower() != "bearer":
            return None
        try:
            principal = await verifier.verify(token.strip())
        except Problem:
            return None  # the route refuses it the same way; nothing is stored
        remember_principal(scope, token.strip(), principal)  # the route need not verify again
        return f"user:{principal.user_id}"

    async def _first(
        self, scope: Scope, receive: Receive, send: Send, keyed: _Keyed, owner: str
    ) -> None:
        body = _Body(self.max_request_bytes)
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        storable = False
        stored = False

        async def receive_hashing() -> Message:
            message = await receive()
            body.feed(message)
            return message

        async def send_capturing(message: Message) -> None:
            nonlocal status, headers, storable, stored
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = [
                    (n, v) for n, v in message.get("headers", []) if n.lower() not in _NOT_REPLAYED
                ]
                storable = 200 <= status < 500 and status not in _NOT_STORED
                storable = storable and not message.get("trailers", False)
            elif kind == "http.response.body" and storable:
                storable = False  # one body message is a whole answer; more is a stream
                final = not message.get("more_body", False)
                content = message.get("body", b"")
                if final and len(content) <= self.max_response_bytes and await body.drain(receive):
                    stored = await self._complete(
                        keyed, owner, scope, body, status, headers, content
                    )
            else:
                storable = False
            await send(message)

        keeper = asyncio.create_task(self._keep_lease(keyed.record_id, owner))
        try:
            await self.app(scope, receive_hashing, send_capturing)
        except BaseException:
            await self._release(keyed.record_id, owner)
            raise
        finally:
            keeper.cancel()
        if not stored:
            await self._release(keyed.record_id, owner)

    async def _complete(
        self,
        keyed: _Keyed,
        owner: str,
        scope: Scope,
        body: _Body,
        status: int,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
    ) -> bool:
        try:
            done = await self.store.complete(
                keyed.record_id,
                owner,
                status=status,
                fingerprint=keyed.fingerprint(scope, body.sha256.digest()),
                response=keyed.seal(status, headers, content),
            )
        except Exception as exc:
            # The answer is right; only its replay is lost. The key is released after it.
            # (The error's type only: a driver's message may quote the document.)
            _log.warning(
                "idempotent answer to %s %s not stored (%s)",
                scope["method"],
                scope["path"],
                type(exc).__name__,
            )
            return False
        if not done:
            _log.warning(
                "idempotency lease on %s %s was taken over before the answer",
                scope["method"],
                scope["path"],
            )
        return done

    async def _keep_lease(self, record_id: str, owner: str) -> None:
        while True:
            await asyncio.sleep(self.store.lease_seconds / 3)
            try:
                await self.store.renew(record_id, owner)
            except Exception as exc:
                _log.warning("idempotency lease not renewed (%s)", type(exc).__name__)

    async def _release(self, record_id: str, owner: str) -> None:
        try:
            await self.store.release(record_id, owner)
        except Exception as exc:
            # The lease lapses on its own; a retry then takes the key over.
            _log.warning("idempotency key not released (%s)", type(exc).__name__)

    async def _repeat(
        self, scope: Scope, receive: Receive, send: Send, keyed: _Keyed, record: Doc
    ) -> None:
        body = _Body(self.max_request_bytes)
        if not await body.drain(receive):
            if body.disconnected:
                return  # nobody is left to answer
            mib = self.max_request_bytes / _MIB
            problem = Problem(
                422,
                code="idempotency-request-too-large",
                detail=f"Повторный запрос больше {mib:g} МБ: его нельзя сравнить с первым.",
            )
            await _answer(problem, scope, receive, send)
            return
        fingerprint = keyed.fingerprint(scope, body.sha256.digest())
        if not hmac.compare_digest(fingerprint, record["fingerprint"]):
            await _answer(_reused(), scope, receive, send)
            return
        status: int = record["status"]
        try:
            headers, content = keyed.open(status, record["response"])
        except (InvalidTag, ValueError) as exc:
            raise RuntimeError("a stored idempotent answer does not decrypt") from exc
        headers.append((REPLAYED_HEADER.lower().encode(), b"true"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _reused() -> Problem:
    return Problem(
        422,
        code="idempotency-key-reused",
        detail=_REUSED,
        errors=[FieldError(field=HEADER, code="idempotency_key_reused", message=_REUSED)],
    )


async def _answer(problem: Problem, scope: Scope, receive: Receive, send: Send) -> None:
    await problem.to_response(scope["path"])(scope, receive, send)


def install_idempotency(app: FastAPI, store: IdempotencyStore, **limits: int) -> None:
    """Add the middleware to ``app``; the access verifier is looked up per request.

    Call it before :func:`~emk_common.problems.install_problem_handlers`, so the middleware
    sits inside its 500 guard and sees a route's exception (to release the key) first.
    """

    def verifier() -> AccessTokenVerifier | None:
        found = getattr(app.state, "access_verifier", None)
        return found if isinstance(found, AccessTokenVerifier) else None

    app.add_middleware(IdempotencyMiddleware, store=store, verifier=verifier, **limits)
