"""``Idempotency-Key`` for every POST and PATCH of every service: a retry gets the first answer.

Follows the IETF draft "The Idempotency-Key HTTP Header Field". :func:`create_app
<emk_common.service.create_app>` installs :class:`IdempotencyMiddleware` in every service,
storing keys in the service's own database (collection ``idempotency_keys``, kept for
``IDEMPOTENCY_TTL_HOURS``, 24 h by default, by a TTL index on ``expires_at``).

* Only POST and PATCH requests carrying the header take part; anything else, and a
  request without it, passes straight through (no database round trip). A key is 1–255
  printable ASCII characters, bare or as a structured-field string (``"…"``); anything
  else, or the header twice, is a 400 problem.
* **Scope.** A key belongs to the verified caller: with a valid ``Authorization: Bearer``
  access token (checked by ``app.state.access_verifier``) the scope is the user id; with
  no ``Authorization`` at all (public endpoints) it is "anonymous", where only a request
  identical in method, path, query and every byte of the body gets the stored answer. An
  ``Authorization`` header that does not verify — expired, foreign, a service token, no
  verifier — makes the request pass through untracked: the route answers it (401), nothing
  is stored, and an unverified subject never selects someone else's answer.
* **First request.** A record ``{_id: hash(scope, key), state: "processing", owner, lease}``
  is inserted atomically, then the route runs. The request body is hashed as the route reads
  it (nothing is buffered: a 5 MB upload streams through); a body the route did not read is
  drained and hashed just before the answer is sent. The answer is stored before its body
  reaches the client, so a client that has it never sees a 409 for its own key.
  Not stored, the key released so that a retry runs again: 5xx, 401, 403, 408, 413, 429, an
  answer of several body messages (streamed) or over 1 MB, a request body over the limit
  (8 MB), and a route that raised.
* **Repeat while the first runs** → 409 with ``Retry-After: 1``. The first request renews
  its lease while it runs (every ``lease_seconds / 3``); a record whose lease lapsed (its
  process died) is taken over by the next request with the key.
* **Repeat after it finished.** The repeat's body is hashed (up to the limit, else 422) and
  its method, path, query and body compared with the first's: a difference is a 422
  (``idempotency-key-reused``), a match replays the stored status, headers and body with
  ``Idempotent-Replayed: true`` — the route does not run again.

Stored answers may hold tokens, secrets or medical data, so they are encrypted (AES-256-GCM)
under a key derived from the scope and the idempotency key, and the request fingerprint is an
HMAC under another: the database holds neither the idempotency key nor anything readable
without it. That protection is as strong as the client's key — clients send a random UUID.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emk_common.auth import AccessTokenVerifier, remember_principal
from emk_common.clock import Clock, utc_now
from emk_common.field_errors import FieldError
from emk_common.problems import Problem

__all__ = [
    "COLLECTION",
    "HEADER",
    "REPLAYED_HEADER",
    "Claim",
    "IdempotencyMiddleware",
    "IdempotencyStore",
    "install_idempotency",
    "parse_key",
]

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
COLLECTION = "idempotency_keys"

_METHODS = frozenset({"POST", "PATCH"})
_HEADER_NAME = HEADER.lower().encode()
# Answers a retry should get afresh: the server's trouble, the caller's credentials, a limit.
# 413 too: it is usually sent before the body is read, and storing it would mean reading
# (and, behind "Expect: 100-continue", inviting) the body the route refused to take.
_NOT_STORED = frozenset({401, 403, 408, 413, 429})
# Per-connection headers the server sets itself on every answer.
_NOT_REPLAYED = frozenset({b"date", b"server", b"connection", b"keep-alive", b"transfer-encoding"})
_NONCE_BYTES = 12
_MIB = 1024 * 1024

_INVALID_KEY = (
    f"Заголовок {HEADER} должен встречаться в запросе один раз "
    "и содержать от 1 до 255 печатных символов ASCII."
)
_IN_PROGRESS = "Запрос с этим ключом идемпотентности ещё выполняется. Повторите его через секунду."
_REUSED = (
    "Ключ идемпотентности уже использован для другого запроса. Для нового запроса нужен новый ключ."
)

_log = logging.getLogger(__name__)

Doc = dict[str, Any]
VerifierSource = Callable[[], AccessTokenVerifier | None]


def parse_key(values: list[bytes]) -> str | None:
    """The key of the request's ``Idempotency-Key`` values, or ``None`` if it is malformed."""
    if len(values) != 1:
        return None
    raw = values[0].strip(b" \t")
    if raw.startswith(b'"'):  # the draft's form: a structured-field string
        if len(raw) < 2 or not raw.endswith(b'"'):
            return None
        key = _unquote(raw[1:-1])
        if key is None:
            return None
    else:
        key = raw
    if not 1 <= len(key) <= 255 or any(byte < 0x20 or byte > 0x7E for byte in key):
        return None
    return key.decode("ascii")


def _unquote(inner: bytes) -> bytes | None:
    out, escaped = bytearray(), False
    for byte in inner:
        if escaped:
            if byte not in b'"\\':
                return None
            out.append(byte)
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x22:  # an unescaped quote inside
            return None
        else:
            out.append(byte)
    return None if escaped else bytes(out)


class IdempotencyStore:
    """The records of one service's keys in its own MongoDB."""

    def __init__(
        self,
        collection: AsyncCollection[Doc],
        *,
        ttl: timedelta = timedelta(hours=24),
        lease_seconds: float = 60.0,
        clock: Clock = utc_now,
    ) -> None:
        if lease_seconds <= 0 or ttl <= timedelta(seconds=lease_seconds):
            raise ValueError("an idempotency key must outlive its lease")
        self.collection = collection
        self.ttl = ttl
        self.lease_seconds = lease_seconds
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0)

    async def claim(self, record_id: str, method: str, path: str) -> Claim:
        """Own the key for a first run, or learn what holds it."""
        owner = uuid.uuid4().hex
        for _ in range(3):  # the record may vanish between our insert and our read
            now = self._clock()
            fresh = {
                "_id": record_id,
                "state": "processing",
                "method": method,
                "path": path,
                "owner": owner,
                "lease_until": now + timedelta(seconds=self.lease_seconds),
                "expires_at": now + self.ttl,
            }
            try:
                await self.collection.insert_one(fresh)
                return Claim(owner=owner)
            except DuplicateKeyError:
                pass
            existing = await self.collection.find_one({"_id": record_id})
            if existing is None:
                continue
            if not _lapsed(existing, now):
                return Claim(record=existing)
            # Its process died, or the TTL monitor has not reaped it yet: take it over, once.
            taken = await self.collection.replace_one(
                {
                    "_id": record_id,
                    "$or": [
                        {"state": "processing", "lease_until": {"$lte": now}},
                        {"expires_at": {"$lte": now}},
                    ],
                },
                fresh,
            )
            if taken.matched_count == 1:
                return Claim(owner=owner)
        raise RuntimeError("an idempotency record kept changing under us")

    async def renew(self, record_id: str, owner: str) -> None:
        lease_until = self._clock() + timedelta(seconds=self.lease_seconds)
        await self.collection.update_one(
            {"_id": record_id, "owner": owner, "state": "processing"},
            {"$set": {"lease_until": lease_until}},
        )

    async def complete(
        self, record_id: str, owner: str, *, status: int, fingerprint: str, response: bytes
    ) -> bool:
        """Store the answer; ``False`` if another process took the key over meanwhile."""
        result = await self.collection.update_one(
            {"_id": record_id, "owner": owner, "state": "processing"},
            {
                "$set": {
                    "state": "done",
                    "status": status,
                    "fingerprint": fingerprint,
                    "response": response,
                    "expires_at": self._clock() + self.ttl,
                },
                "$unset": {"owner": "", "lease_until": ""},
            },
        )
        return result.matched_count == 1

    async def release(self, record_id: str, owner: str) -> None:
        await self.collection.delete_one({"_id": record_id, "owner": owner, "state": "processing"})


def _lapsed(record: Doc, now: datetime) -> bool:
    if _aware(record["expires_at"]) <= now:
        return True
    return record["state"] == "processing" and _aware(record["lease_until"]) <= now


def _aware(moment: datetime) -> datetime:
    # A client without tz_aware=True reads UTC datetimes back naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Claim:
    """Either we own the key (``owner``) or someone's record holds it (``record``)."""

    owner: str | None = None
    record: Doc | None = None


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A request's key, as the store and the cipher see it; the raw key stays here."""

    record_id: str
    cipher_key: bytes
    mac_key: bytes

    @classmethod
    def of(cls, scope_name: str, key: str) -> _Keyed:
        material = scope_name.encode() + b"\0" + key.encode()

        def derive(purpose: bytes) -> bytes:
            return hashlib.sha256(b"emk-idempotency/" + purpose + b"\0" + material).digest()

        return cls(derive(b"id").hex(), derive(b"cipher"), derive(b"mac"))

    def fingerprint(self, scope: Scope, body_sha256: bytes) -> str:
        parts = (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""))
        message = b"\0".join((*parts, body_sha256))
        return hmac.new(self.mac_key, message, hashlib.sha256).hexdigest()

    def seal(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
        listed = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]
        plain = json.dumps(listed).encode() + b"\n" + body
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.cipher_key).encrypt(nonce, plain, self._aad(status))

    def open(self, status: int, sealed: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        plain = AESGCM(self.cipher_key).decrypt(nonce, ciphertext, self._aad(status))
        listed, _, body = plain.partition(b"\n")
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in json.loads(listed)]
        return headers, body

    def _aad(self, status: int) -> bytes:
        return f"{self.record_id}:{status}".encode()


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
