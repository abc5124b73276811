"""Idempotency-Key on the real MongoDB, through an app built the way every service is.

The probe service is made by ``create_runtime`` + ``create_app`` (so the hook itself is under
test) and trusts a key signed here; its routes count their side effects, which is what a
replay must not add to.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from emk_common.auth import AccessTokenVerifier, CurrentPrincipal, StaticKeys
from emk_common.idempotency import (
    COLLECTION,
    REPLAYED_HEADER,
    IdempotencyStore,
    install_idempotency,
    parse_key,
)
from emk_common.problems import PROBLEM_TYPE_BASE, Problem, install_problem_handlers
from emk_common.service import create_app, create_runtime
from emk_common.settings import ServiceSettings
from emk_testing import eventually

Doc = dict[str, Any]
KEY, STRANGER = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
KID = "test-key"
TTL_HOURS = 2.0
LEASE = 1.0  # seconds, for the bare app's lease renewal test


class ProbeSettings(ServiceSettings):
    service_name: ClassVar[str] = "idemprobe"


def token(user_id: str, key: Ed25519PrivateKey = KEY) -> str:
    now = int(time.time())
    claims = {
        "iss": "emk-identity", "aud": "emk", "sub": user_id, "role": "citizen", "iat": now,
        "exp": now + 600, "jti": uuid.uuid4().hex, "sid": uuid.uuid4().hex,
    }  # fmt: skip
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": KID})


def headers(idempotency_key: str | None = None, user: str | None = None, **more: str) -> Doc:
    found: Doc = dict(more)
    if idempotency_key is not None:
        found["Idempotency-Key"] = idempotency_key
    if user is not None:
        found["Authorization"] = f"Bearer {token(user)}"
    return found


def new_key() -> str:
    return str(uuid.uuid4())


def problem_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["type"].startswith(PROBLEM_TYPE_BASE)
    return str(body["type"]).removeprefix(PROBLEM_TYPE_BASE)


class Effects:
    """What the routes did, so a test sees whether a request ran."""

    def __init__(self) -> None:
        self.runs: dict[str, int] = {}
        self.outcomes: dict[str, list[str | int]] = {}
        self.gates: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}
        self.first_chunk: dict[str, asyncio.Event] = {}

    def ran(self, name: str) -> int:
        self.runs[name] = self.runs.get(name, 0) + 1
        return self.runs[name]

    def gate(self, name: str) -> tuple[asyncio.Event, asyncio.Event]:
        """(entered, release) for a slow route."""
        return self.gates.setdefault(name, (asyncio.Event(), asyncio.Event()))


def probe_router(effects: Effects) -> APIRouter:
    router = APIRouter()

    @router.post("/things", status_code=201)
    async def create_thing(principal: CurrentPrincipal, request: Request) -> JSONResponse:
        body = await request.json()
        n = effects.ran(f"things:{principal.user_id}:{body.get('tag')}")
        payload = {"user": principal.user_id, "name": body.get("name"), "n": n, "secret": body}
        return JSONResponse(payload, status_code=201, headers={"Location": f"/things/{n}"})

    @router.patch("/things/{thing_id}")
    async def patch_thing(thing_id: str, principal: CurrentPrincipal) -> Doc:
        return {"id": thing_id, "n": effects.ran(f"patch:{thing_id}")}

    @router.post("/public/echo/{tag}", status_code=201)
    async def echo(tag: str, request: Request) -> Doc:
        body = await request.body()
        return {"n": effects.ran(f"echo:{tag}"), "size": len(body)}

    @router.post("/bodiless/{tag}")
    async def bodiless(tag: str) -> Doc:
        return {"n": effects.ran(f"bodiless:{tag}")}

    @router.post("/slow/{tag}")
    async def slow(tag: str, principal: CurrentPrincipal) -> Doc:
        n = effects.ran(f"slow:{tag}")
        entered, release = effects.gate(f"{tag}:{n}")
        entered.set()
        await release.wait()
        return {"n": n}

    @router.post("/flaky/{tag}", status_code=201)
    async def flaky(tag: str, principal: CurrentPrincipal) -> Doc:
        n = effects.ran(f"flaky:{tag}")
        outcomes = effects.outcomes.get(tag, [])
        outcome = outcomes.pop(0) if outcomes else "ok"
        if outcome == "raise":
            raise RuntimeError("the route broke")
        if isinstance(outcome, int):
            raise Problem(outcome)
        return {"n": n}

    @router.post("/upload/{tag}", status_code=201)
    async def upload(tag: str, request: Request) -> Doc:
        digest, size, chunks = hashlib.sha256(), 0, 0
        async for chunk in request.stream():
            if chunk:
                chunks += 1
                effects.first_chunk.setdefault(tag, asyncio.Event()).set()
            digest.update(chunk)
            size += len(chunk)
        return {"n": effects.ran(f"upload:{tag}"), "size": size, "sha256": digest.hexdigest()}

    @router.post("/stream/{tag}")
    async def stream(tag: str) -> StreamingResponse:
        n = effects.ran(f"stream:{tag}")

        async def parts() -> AsyncIterator[bytes]:
            yield b"part one, "
            yield f"run {n}".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    @router.post("/big/{tag}")
    async def big(tag: str) -> Doc:
        return {"n": effects.ran(f"big:{tag}"), "filler": "x" * (1024 * 1024 + 1)}

    @router.get("/count/{name}")
    async def count(name: str) -> Doc:
        return {"n": effects.ran(f"get:{name}")}

    return router


class Probe:
    def __init__(self, app: FastAPI, db: AsyncDatabase[Doc], effects: Effects) -> None:
        self.app, self.db, self.effects = app, db, effects
        self.keys: AsyncCollection[Doc] = db[COLLECTION]

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://probe", timeout=30)


@pytest.fixture(scope="module")
def endpoints(stack: object) -> dict[str, str]:
    # Read before the unit tests' autouse fixture clears the environment.
    return {
        "mongodb_uri": os.environ["MONGODB_URI"],
        "kafka_bootstrap_servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
    }


@pytest.fixture(scope="module")
async def probe(endpoints: dict[str, str]) -> AsyncIterator[Probe]:
    settings = ProbeSettings(
        mongodb_uri=endpoints["mongodb_uri"],
        kafka_bootstrap_servers=endpoints["kafka_bootstrap_servers"],
        mongodb_database=f"idempotency_test_{uuid.uuid4().hex[:8]}",
        idempotency_ttl_hours=TTL_HOURS,
    )
    runtime = create_runtime(settings)
    effects = Effects()
    app = create_app(
        runtime,
        title="probe",
        description="test",
        routers=[probe_router(effects)],
        body_limits={f"/upload/{LARGE}": 7 * 1024 * 1024},  # as documents declares its upload
    )
    # Set after create_app, as the services do: the middleware looks it up per request.
    app.state.access_verifier = AccessTokenVerifier(
        StaticKeys({KID: KEY.public_key()}), issuer="emk-identity", audience="emk"
    )
    async with app.router.lifespan_context(app):
        yield Probe(app, runtime.db, effects)


@pytest.fixture
async def client(probe: Probe) -> AsyncIterator[httpx.AsyncClient]:
    async with probe.client() as http:
        yield http


def user() -> str:
    return uuid.uuid4().hex


# --- the first answer, once ----------------------------------------------------------


async def test_a_repeat_gets_the_first_answer_without_running_again(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    body = {"name": "первый", "tag": tag}

    first = await client.post("/things", json=body, headers=headers(key, alice))
    again = await client.post("/things", json=body, headers=headers(key, alice))

    assert first.status_code == 201
    assert REPLAYED_HEADER not in first.headers
    assert again.status_code == 201
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.json() == first.json() == {**first.json(), "n": 1, "user": alice}
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert probe.effects.runs[f"things:{alice}:{tag}"] == 1


async def test_the_same_key_with_another_body_or_path_is_refused(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    await client.post("/things", json={"name": "a", "tag": tag}, headers=headers(key, alice))

    other_body = await client.post(
        "/things", json={"name": "b", "tag": tag}, headers=headers(key, alice)
    )
    other_path = await client.patch("/things/1", headers=headers(key, alice))

    for refused in (other_body, other_path):
        assert refused.status_code == 422
        assert problem_code(refused) == "idempotency-key-reused"
        assert refused.json()["detail"].startswith("Ключ идемпотентности уже использован")
        assert refused.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert probe.effects.runs[f"things:{alice}:{tag}"] == 1
    assert "patch:1" not in probe.effects.runs


async def test_patch_is_covered_too(probe: Probe, client: httpx.AsyncClient) -> None:
    alice, key, thing = user(), new_key(), uuid.uuid4().hex
    first = await client.patch(f"/things/{thing}", headers=headers(key, alice))
    again = await client.patch(f"/things/{thing}", headers=headers(key, alice))
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.json() == first.json() == {"id": thing, "n": 1}


async def test_concurrent_duplicates_run_once_and_the_other_waits(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    entered, release = probe.effects.gate(f"{tag}:1")

    first = asyncio.create_task(client.post(f"/slow/{tag}", headers=headers(key, alice)))
    async with asyncio.timeout(10):
        await entered.wait()
    duplicate = await client.post(f"/slow/{tag}", headers=headers(key, alice))
    release.set()
    answer = await first
    after = await client.post(f"/slow/{tag}", headers=headers(key, alice))

    assert duplicate.status_code == 409
    assert duplicate.headers["retry-after"] == "1"
    assert problem_code(duplicate) == "idempotency-key-in-progress"
    assert duplicate.json()["detail"].startswith("Запрос с этим ключом идемпотентности ещё")
    assert answer.status_code == 200
    assert after.headers[REPLAYED_HEADER] == "true"
    assert after.json() == answer.json() == {"n": 1}
    assert probe.effects.runs[f"slow:{tag}"] == 1


async def test_a_dead_owner_is_taken_over_and_cannot_overwrite_the_new_answer(
    probe: Probe, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    entered_1, release_1 = probe.effects.gate(f"{tag}:1")
    first = asyncio.create_task(client.post(f"/slow/{tag}", headers=headers(key, alice)))
    async with asyncio.timeout(10):
        await entered_1.wait()
    # As if the first process had died: its lease lapsed without renewal.
    lapsed = datetime.now(UTC) - timedelta(seconds=1)
    moved = await probe.keys.update_many(
        {"state": "processing", "path": f"/slow/{tag}"}, {"$set": {"lease_until": lapsed}}
    )
    assert moved.modified_count == 1

    entered_2, release_2 = probe.effects.gate(f"{tag}:2")
    second = asyncio.create_task(client.post(f"/slow/{tag}", headers=headers(key, alice)))
    async with asyncio.timeout(10):
        await entered_2.wait()
    release_2.set()
    taker = await second
    with caplog.at_level(logging.WARNING, logger="emk_common.idempotency"):
        release_1.set()
        late = await first
    replay = await client.post(f"/slow/{tag}", headers=headers(key, alice))

    assert late.json() == {"n": 1}  # the late owner still answers its own client
    assert taker.json() == {"n": 2}
    assert replay.json() == {"n": 2}
    assert replay.headers[REPLAYED_HEADER] == "true"
    assert "taken over" in caplog.text
    assert key not in caplog.text


async def test_an_expired_answer_is_not_replayed(probe: Probe, client: httpx.AsyncClient) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    await client.post(f"/flaky/{tag}", headers=headers(key, alice))
    # Past its expiry, not yet reaped by the TTL monitor (it runs once a minute).
    past = datetime.now(UTC) - timedelta(seconds=1)
    await probe.keys.update_many({"path": f"/flaky/{tag}"}, {"$set": {"expires_at": past}})

    again = await client.post(f"/flaky/{tag}", headers=headers(key, alice))

    assert REPLAYED_HEADER not in again.headers
    assert again.json() == {"n": 2}


# --- whose key it is ----------------------------------------------------------------


async def test_one_users_key_never_replays_for_another(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    alice, bob, key, tag = user(), user(), new_key(), uuid.uuid4().hex
    body = {"name": "same", "tag": tag}

    for_alice = await client.post("/things", json=body, headers=headers(key, alice))
    for_bob = await client.post("/things", json=body, headers=headers(key, bob))

    assert REPLAYED_HEADER not in for_bob.headers
    assert for_bob.json()["user"] == bob
    assert for_alice.json()["user"] == alice
    assert probe.effects.runs[f"things:{bob}:{tag}"] == 1


async def test_an_unverified_token_is_left_to_the_route_and_nothing_is_stored(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    body = {"name": "mine", "tag": tag}
    await client.post("/things", json=body, headers=headers(key, alice))
    stored = await probe.keys.count_documents({})

    # Alice's subject, signed by someone else: it must not select Alice's answer.
    forged = {"Idempotency-Key": key, "Authorization": f"Bearer {token(alice, STRANGER)}"}
    refused = await client.post("/things", json=body, headers=forged)
    not_bearer = await client.post(
        "/things", json=body, headers={"Idempotency-Key": key, "Authorization": "Basic eDp5"}
    )

    for answer in (refused, not_bearer):
        assert answer.status_code == 401
        assert REPLAYED_HEADER not in answer.headers
        assert alice not in answer.text
    assert await probe.keys.count_documents({}) == stored


async def test_public_replays_only_the_identical_request(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    key, tag = new_key(), uuid.uuid4().hex
    body = b'{"login": "+79991234567"}'

    first = await client.post(f"/public/echo/{tag}", content=body, headers=headers(key))
    same = await client.post(f"/public/echo/{tag}", content=body, headers=headers(key))
    one_byte = await client.post(
        f"/public/echo/{tag}", content=body.replace(b"4567", b"4568"), headers=headers(key)
    )
    query = await client.post(f"/public/echo/{tag}?x=1", content=body, headers=headers(key))
    with_token = await client.post(
        f"/public/echo/{tag}", content=body, headers=headers(key, user())
    )

    assert same.headers[REPLAYED_HEADER] == "true"
    assert same.json() == first.json() == {"n": 1, "size": len(body)}
    assert one_byte.status_code == query.status_code == 422
    # A signed-in caller's key is its own, apart from the anonymous one.
    assert REPLAYED_HEADER not in with_token.headers
    assert probe.effects.runs[f"echo:{tag}"] == 2


# --- what is not stored ---------------------------------------------------------------


@pytest.mark.parametrize("failure", ["raise", 500, 503, 401, 403, 413, 429])
async def test_failures_a_retry_should_redo_are_not_stored(
    probe: Probe, client: httpx.AsyncClient, failure: str | int
) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    probe.effects.outcomes[tag] = [failure]

    failed = await client.post(f"/flaky/{tag}", headers=headers(key, alice))
    retried = await client.post(f"/flaky/{tag}", headers=headers(key, alice))
    replayed = await client.post(f"/flaky/{tag}", headers=headers(key, alice))

    assert failed.status_code == (500 if failure == "raise" else failure)
    assert REPLAYED_HEADER not in retried.headers
    assert retried.status_code == 201
    assert retried.json() == {"n": 2}
    assert replayed.headers[REPLAYED_HEADER] == "true"
    assert replayed.json() == {"n": 2}


async def test_a_client_error_is_the_answer_and_is_replayed(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    probe.effects.outcomes[tag] = [409]
    first = await client.post(f"/flaky/{tag}", headers=headers(key, alice))
    again = await client.post(f"/flaky/{tag}", headers=headers(key, alice))
    assert first.status_code == again.status_code == 409
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.headers["content-type"] == "application/problem+json"
    assert probe.effects.runs[f"flaky:{tag}"] == 1


@pytest.mark.parametrize("route", ["stream", "big"])
async def test_streamed_or_large_answers_are_not_stored(
    probe: Probe, client: httpx.AsyncClient, route: str
) -> None:
    key, tag = new_key(), uuid.uuid4().hex
    first = await client.post(f"/{route}/{tag}", headers=headers(key))
    again = await client.post(f"/{route}/{tag}", headers=headers(key))
    assert first.status_code == again.status_code == 200
    assert REPLAYED_HEADER not in again.headers
    assert probe.effects.runs[f"{route}:{tag}"] == 2
    assert await probe.keys.count_documents({"path": f"/{route}/{tag}"}) == 0


# --- requests it leaves alone, and bad keys ---------------------------------------------


async def test_without_the_header_nothing_changes(probe: Probe, client: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex
    stored = await probe.keys.count_documents({})

    answers = [await client.post(f"/bodiless/{tag}") for _ in range(2)]
    got = [await client.get(f"/count/{tag}", headers=headers(new_key())) for _ in range(2)]

    assert [a.json()["n"] for a in answers] == [1, 2]
    assert [g.json()["n"] for g in got] == [1, 2]  # GET is not keyed, header or not
    assert all(REPLAYED_HEADER not in a.headers for a in answers + got)
    assert await probe.keys.count_documents({}) == stored


@pytest.mark.parametrize(
    "values",
    [[""], ["  "], ["x" * 256], ["ключ"], ["a\tb"], ['"a"b"'], ['"a\\'], ["one", "two"]],
)
async def test_a_malformed_key_is_a_400(
    probe: Probe, client: httpx.AsyncClient, values: list[str]
) -> None:
    tag = uuid.uuid4().hex
    raw = [(b"Idempotency-Key", value.encode()) for value in values]
    answer = await client.post(f"/bodiless/{tag}", headers=raw)
    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.json()["detail"]
    assert f"bodiless:{tag}" not in probe.effects.runs


def test_keys_bare_or_quoted() -> None:
    assert parse_key([b"8e03978e-40d5-43e8-bc93-6894a57f9324"]) == (
        "8e03978e-40d5-43e8-bc93-6894a57f9324"
    )
    assert parse_key([b'"abc"']) == parse_key([b"abc"]) == "abc"
    assert parse_key([b'"a\\"b"']) == 'a"b'
    assert parse_key([b"x" * 255]) == "x" * 255
    assert parse_key([b'""']) is None


async def test_a_body_the_route_never_reads_still_counts(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    key, tag = new_key(), uuid.uuid4().hex
    first = await client.post(f"/bodiless/{tag}", content=b"abc", headers=headers(key))
    same = await client.post(f"/bodiless/{tag}", content=b"abc", headers=headers(key))
    other = await client.post(f"/bodiless/{tag}", content=b"abd", headers=headers(key))

    assert same.headers[REPLAYED_HEADER] == "true"
    assert same.json() == first.json() == {"n": 1}
    assert other.status_code == 422


# --- large uploads stream through ------------------------------------------------------

CHUNK = 64 * 1024
CHUNKS = 96  # 6 MB, over the stored-answer cap and the documents service's 5 MB
LARGE = "large"  # the upload path given a body limit of its own (the default is 64 KB)


async def upload_body(probe: Probe, tag: str, *, last: bytes = b"z") -> AsyncIterator[bytes]:
    """Yields one chunk, then waits until the route has it: a middleware that buffered the
    whole body before calling the route would never get the rest, and the test fails."""
    yield b"a" * CHUNK
    seen = probe.effects.first_chunk.setdefault(tag, asyncio.Event())
    if not seen.is_set():
        async with asyncio.timeout(10):
            await seen.wait()
    for _ in range(CHUNKS - 2):
        yield b"b" * CHUNK
    yield b"c" * (CHUNK - 1) + last


async def test_a_large_upload_streams_through_and_is_replayed_by_its_hash(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    key, tag = new_key(), LARGE
    first = await client.post(
        f"/upload/{tag}", content=upload_body(probe, tag), headers=headers(key)
    )
    again = await client.post(
        f"/upload/{tag}", content=upload_body(probe, tag), headers=headers(key)
    )
    changed = await client.post(
        f"/upload/{tag}", content=upload_body(probe, tag, last=b"!"), headers=headers(key)
    )

    assert first.status_code == 201
    assert first.json()["size"] == CHUNK * CHUNKS
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.json() == first.json()
    assert changed.status_code == 422
    assert probe.effects.runs[f"upload:{tag}"] == 1


# --- storage ------------------------------------------------------------------------------


async def test_keys_expire_and_stored_answers_are_unreadable_without_the_key(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    secret = f"медицинская тайна {uuid.uuid4().hex}"
    before = datetime.now(UTC)
    await client.post("/things", json={"name": secret, "tag": tag}, headers=headers(key, alice))

    indexes = await probe.keys.index_information()
    ttl = [i for i in indexes.values() if i["key"] == [("expires_at", 1)]]
    assert ttl
    assert ttl[0]["expireAfterSeconds"] == 0
    records = [r async for r in probe.keys.find({"path": "/things", "state": "done"})]
    mine = [r for r in records if before <= r["expires_at"] - timedelta(hours=TTL_HOURS)]
    assert len(mine) == 1
    assert mine[0]["expires_at"] <= datetime.now(UTC) + timedelta(hours=TTL_HOURS)
    stored = repr(mine[0])
    for plain in (secret, key, alice, tag):
        assert plain not in stored
        assert plain.encode() not in mine[0]["response"]


def test_the_ttl_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().idempotency_ttl_hours == 24
    monkeypatch.setenv("IDEMPOTENCY_TTL_HOURS", "6")
    assert ServiceSettings().idempotency_ttl_hours == 6


# --- the middleware alone: lease renewal and the body limit -----------------------------


@pytest.fixture
async def small(mongo: AsyncMongoClient[Doc]) -> AsyncIterator[Probe]:
    """A bare app with a short lease and a 1 KB request limit."""
    db = mongo[f"idempotency_small_{uuid.uuid4().hex[:8]}"]
    store = IdempotencyStore(db[COLLECTION], lease_seconds=LEASE)
    await store.ensure_indexes()
    effects = Effects()
    app = FastAPI()
    install_idempotency(app, store, max_request_bytes=1024)
    install_problem_handlers(app)
    app.state.access_verifier = AccessTokenVerifier(
        StaticKeys({KID: KEY.public_key()}), issuer="emk-identity", audience="emk"
    )
    app.include_router(probe_router(effects))
    yield Probe(app, db, effects)
    await mongo.drop_database(db.name)


async def test_a_running_request_keeps_its_lease(small: Probe) -> None:
    probe = small
    alice, key, tag = user(), new_key(), uuid.uuid4().hex
    entered, release = probe.effects.gate(f"{tag}:1")
    async with probe.client() as client:
        first = asyncio.create_task(client.post(f"/slow/{tag}", headers=headers(key, alice)))
        async with asyncio.timeout(10):
            await entered.wait()
        record = await probe.keys.find_one({"state": "processing"})
        assert record is not None

        async def renewed() -> bool:
            now = await probe.keys.find_one({"_id": record["_id"]})
            lease = timedelta(seconds=LEASE)
            return now is not None and now["lease_until"] > record["lease_until"] + lease

        # Renewed past the first lease's end: a lapsed-lease takeover would have been allowed.
        await eventually(renewed, within=10, what="the lease renewed")
        duplicate = await client.post(f"/slow/{tag}", headers=headers(key, alice))
        release.set()
        await first

    assert duplicate.status_code == 409
    assert probe.effects.runs[f"slow:{tag}"] == 1


async def test_bodies_over_the_limit_are_not_stored_or_compared(small: Probe) -> None:
    probe = small
    tag, small_key, big_key = uuid.uuid4().hex, new_key(), new_key()
    async with probe.client() as client:
        await client.post(f"/public/echo/{tag}", content=b"s" * 1000, headers=headers(small_key))
        too_big = await client.post(
            f"/public/echo/{tag}", content=b"s" * 2000, headers=headers(small_key)
        )
        big = [
            await client.post(f"/public/echo/{tag}", content=b"b" * 2000, headers=headers(big_key))
            for _ in range(2)
        ]

    assert too_big.status_code == 422
    assert problem_code(too_big) == "idempotency-request-too-large"
    assert [b.json()["n"] for b in big] == [2, 3]  # never stored: each ran


async def test_a_keyed_request_verifies_its_token_once(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    """The middleware's verification is reused by the route: one signature check, one
    session lookup at identity — not two."""
    real: AccessTokenVerifier = probe.app.state.access_verifier
    calls: list[str] = []

    class Counting(AccessTokenVerifier):
        async def verify(self, token: str) -> Any:
            calls.append(token)
            return await real.verify(token)

    probe.app.state.access_verifier = Counting(
        StaticKeys({KID: KEY.public_key()}), issuer="emk-identity", audience="emk"
    )
    try:
        keyed = await client.post(
            "/things", json={"name": "раз"}, headers=headers(new_key(), user())
        )
        plain = await client.post("/things", json={"name": "два"}, headers=headers(user=user()))
    finally:
        probe.app.state.access_verifier = real
    assert keyed.status_code == 201
    assert plain.status_code == 201
    assert len(calls) == 2  # one per request
