"""An unreachable dependency is a 503 with Retry-After — never a hang, a 500 or a 401.

On a tiny app: each kind of infrastructure failure, wherever it is raised on the request path,
becomes the one problem document; other errors stay 500s. Then the bounded clients: a MongoDB or
S3 that accepts connections and never answers (a frozen process) fails a call within the 2 s
budget, and identity's keys away make a token that cannot be checked a 503.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from minio.error import S3Error, ServerError
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from emk_common.auth import AccessTokenVerifier, CurrentPrincipal, JwksCache
from emk_common.mongo import mongo_client
from emk_common.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from emk_common.s3 import s3_client
from emk_common.settings import ServiceSettings
from emk_common.unavailable import (
    DependencyUnavailableError,
    dependency_of,
    install_unavailable,
)

RETRY_AFTER = 7
DETAIL = f"Сервис временно недоступен, повторите через {RETRY_AFTER} с."
SECRET = "mongodb://admin:hunter2@db"  # an exception's message must never reach the log
BUDGET = 2.0  # seconds a request may take to say "unavailable"


def _s3_error(code: str, status: int) -> S3Error:
    response = urllib3.HTTPResponse(status=status)
    return S3Error(response, code, SECRET, "/bucket/key", "req", "host")


def _max_retries(reason: Exception) -> urllib3.exceptions.MaxRetryError:
    return urllib3.exceptions.MaxRetryError(None, "/bucket/key", reason)  # type: ignore[arg-type]


UNAVAILABLE: dict[str, Exception] = {
    "server selection timeout": ServerSelectionTimeoutError(SECRET),
    "network timeout": NetworkTimeout(SECRET),
    "auto reconnect": AutoReconnect(SECRET),
    "wait queue timeout": WaitQueueTimeoutError(SECRET),
    "execution timeout": ExecutionTimeout(SECRET, 50),
    "s3 refused": _max_retries(urllib3.exceptions.NewConnectionError(None, SECRET)),  # type: ignore[arg-type]
    "s3 read timeout": urllib3.exceptions.ReadTimeoutError(None, "/k", SECRET),  # type: ignore[arg-type]
    "s3 dropped": urllib3.exceptions.ProtocolError(SECRET),
    "s3 busy": _s3_error("SlowDown", 503),
    "s3 5xx": ServerError(SECRET, 502),
    "connection refused": ConnectionRefusedError(SECRET),
    "mongodb in a task group": ExceptionGroup("both", [NetworkTimeout(SECRET), AutoReconnect()]),
}
NOT_INFRASTRUCTURE: dict[str, Exception] = {
    "duplicate key": DuplicateKeyError(SECRET, 11000),
    "bad query": OperationFailure(SECRET, 2),
    "s3 access denied": _s3_error("AccessDenied", 403),
    "bug": ValueError(SECRET),
    "a bug beside an outage": ExceptionGroup("mixed", [NetworkTimeout(SECRET), KeyError("k")]),
}


class _RaisingBelow:
    """A middleware under the mapping that fails before the route (as the idempotency
    middleware does when MongoDB is away)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/middleware":
            raise ServerSelectionTimeoutError(SECRET)
        await self.app(scope, receive, send)


def tiny_app(raised: Exception) -> FastAPI:
    app = FastAPI()
    app.add_middleware(_RaisingBelow)
    install_unavailable(app, RETRY_AFTER)
    install_problem_handlers(app)

    @app.get("/route")
    async def route() -> dict[str, str]:
        raise raised

    @app.get("/streaming")
    async def streaming() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            raise NetworkTimeout(SECRET)

        return StreamingResponse(chunks())

    return app


@contextlib.asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def assert_unavailable(answer: httpx.Response, retry_after: int = RETRY_AFTER) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.headers["retry-after"] == str(retry_after)
    body = answer.json()
    assert body["status"] == 503
    assert body["type"].endswith("/unavailable")
    assert body["title"] == "Сервис временно недоступен"
    assert body["detail"] == f"Сервис временно недоступен, повторите через {retry_after} с."
    assert "hunter2" not in answer.text


# --- the mapping --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(UNAVAILABLE))
async def test_each_infrastructure_failure_is_a_503_with_retry_after(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    raised = UNAVAILABLE[name]
    with caplog.at_level(logging.WARNING):
        async with client(tiny_app(raised)) as http:
            answer = await http.get("/route")
    assert_unavailable(answer)
    # Logged once, by kind and type, without the message (it may quote credentials or data).
    [record] = [r for r in caplog.records if "answered 503" in r.getMessage()]
    assert record.getMessage().endswith(f"({type(raised).__name__}) on GET /route: answered 503")
    assert "hunter2" not in caplog.text
    assert "unhandled" not in caplog.text


@pytest.mark.parametrize("name", list(NOT_INFRASTRUCTURE))
async def test_other_errors_stay_500s(name: str) -> None:
    async with client(tiny_app(NOT_INFRASTRUCTURE[name])) as http:
        answer = await http.get("/route")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "retry-after" not in answer.headers


async def test_a_middleware_meeting_an_outage_is_a_503_too() -> None:
    async with client(tiny_app(ValueError())) as http:
        assert_unavailable(await http.get("/middleware"))


async def test_an_answer_already_started_is_not_replaced() -> None:
    async with client(tiny_app(ValueError())) as http:
        answer = await http.get("/streaming")
    assert answer.status_code == 200  # the headers went out; the body is cut short
    assert answer.content == b"first"


async def test_our_own_unavailable_error_is_the_same_503() -> None:
    async with client(tiny_app(DependencyUnavailableError("identity-keys", 2.2))) as http:
        assert_unavailable(await http.get("/route"), retry_after=3)


def test_what_counts_as_which_dependency() -> None:
    assert dependency_of(UNAVAILABLE["network timeout"]) == "mongodb"
    assert dependency_of(UNAVAILABLE["s3 busy"]) == "s3"
    assert dependency_of(UNAVAILABLE["s3 refused"]) == "s3"
    assert dependency_of(UNAVAILABLE["connection refused"]) == "network"
    assert all(dependency_of(exc) is None for exc in NOT_INFRASTRUCTURE.values())


# --- bounded clients: a server that accepts and never answers ------------------------------


@contextlib.contextmanager
def frozen_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a SIGSTOPped server, as the
    kernel completes the handshake for it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for sock in accepted:
            sock.close()
        listener.close()


async def test_a_frozen_mongodb_fails_an_operation_within_the_budget() -> None:
    with frozen_server() as port:
        settings = ServiceSettings(mongodb_uri=f"mongodb://127.0.0.1:{port}/?directConnection=true")
        mongo = mongo_client(settings)
        try:
            started = time.monotonic()
            with pytest.raises(PyMongoError) as caught:
                await mongo["emk_test"]["things"].find_one({"_id": "x"})
            elapsed = time.monotonic() - started
        finally:
            await mongo.close()
    assert dependency_of(caught.value) == "mongodb", repr(caught.value)
    assert elapsed < BUDGET


def test_a_frozen_or_stopped_s3_fails_a_call_within_the_budget() -> None:
    with frozen_server() as port:
        s3 = s3_client(ServiceSettings(s3_endpoint=f"http://127.0.0.1:{port}"))
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.HTTPError) as caught:
            s3.bucket_exists("emk-test")
        elapsed = time.monotonic() - started
    assert dependency_of(caught.value) == "s3", repr(caught.value)
    assert elapsed < BUDGET
    # Nobody listening: refused at once (one immediate retry, no backoff).
    s3 = s3_client(ServiceSettings(s3_endpoint=f"http://127.0.0.1:{port}"))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError) as caught:
        s3.bucket_exists("emk-test")
    assert dependency_of(caught.value) == "s3", repr(caught.value)
    assert time.monotonic() - started < 0.5


# --- identity's keys ------------------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
JWKS_URL = "http://identity/.well-known/jwks.json"


def token(kid: str = "user-1", key: Ed25519PrivateKey = KEY) -> str:
    now = int(time.time())
    claims = {
        "iss": "emk-identity",
        "aud": "emk",
        "sub": "u-1",
        "role": "citizen",
        "iat": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


class Identity:
    """identity's JWKS endpoint: up, down (refused), or frozen (never answers)."""

    def __init__(self) -> None:
        self.state = "up"
        self.fetches = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.state == "down":
            raise httpx.ConnectError("refused", request=request)
        if self.state == "frozen":
            await asyncio.Event().wait()
        public = KEY.public_key().public_bytes_raw()
        x = base64.urlsafe_b64encode(public).decode().rstrip("=")
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "user-1"}
        return httpx.Response(200, json={"keys": [jwk]})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keys_app(identity: Identity, clock: Clock, timeout: float = 0.3) -> FastAPI:
    http = httpx.AsyncClient(transport=httpx.MockTransport(identity.handle))
    cache = JwksCache(JWKS_URL, ttl=300, client=http, timeout=timeout, clock=clock)
    app = FastAPI()
    install_unavailable(app, RETRY_AFTER)
    install_problem_handlers(app)
    app.state.access_verifier = AccessTokenVerifier(cache, issuer="emk-identity", audience="emk")

    @app.get("/me")
    async def me(who: CurrentPrincipal) -> dict[str, Any]:
        return {"user_id": who.user_id}

    return app


async def me(http: httpx.AsyncClient, kid: str = "user-1") -> httpx.Response:
    return await http.get("/me", headers={"Authorization": f"Bearer {token(kid)}"})


async def test_keys_that_cannot_be_fetched_make_a_503_not_a_401() -> None:
    identity, clock = Identity(), Clock()
    identity.state = "down"
    async with client(keys_app(identity, clock)) as http:
        answer = await me(http)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "5"  # when the cache will try identity again
        assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert "www-authenticate" not in answer.headers
        clock.now += 3  # within the refresh interval: no fetch, still a 503
        answer = await me(http)
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "2")
        assert identity.fetches == 1

        identity.state = "up"  # back: served without anyone restarting anything
        clock.now += 3
        assert (await me(http)).json() == {"user_id": "u-1"}
        # A key identity does not publish, asked of an identity that answers: a 401.
        clock.now += 6
        assert (await me(http, kid="made-up")).status_code == 401


async def test_a_frozen_identity_costs_one_bounded_wait_then_cached_keys_serve() -> None:
    identity, clock = Identity(), Clock()
    async with client(keys_app(identity, clock, timeout=0.3)) as http:
        assert (await me(http)).status_code == 200  # the key is cached
        identity.state = "frozen"
        clock.now += 400  # the cache is stale: it asks identity, which never answers
        started = time.monotonic()
        assert (await me(http)).status_code == 200  # the cached key still checks the token
        assert time.monotonic() - started < 1.0
        clock.now += 6
        started = time.monotonic()
        answer = await me(http, kid="user-2")  # a key it never saw: cannot be checked
        assert time.monotonic() - started < 1.0
        assert answer.status_code == 503
        assert answer.json()["detail"].startswith("Сервис временно недоступен, повторите через")


def test_the_bounds_come_from_the_settings() -> None:
    settings = ServiceSettings()
    assert settings.mongodb_timeout_ms <= 1500
    assert settings.s3_read_timeout_seconds < BUDGET
    assert settings.jwks_timeout_seconds < BUDGET
    client = mongo_client(settings)
    assert client.options.timeout == settings.mongodb_timeout_ms / 1000
    assert JwksCache.from_settings(settings)._timeout == settings.jwks_timeout_seconds
