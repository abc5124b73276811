"""The HTTP edge of every service (``emk_common.http_guard``) on a tiny app: bodies refused
over their limit before they are read, a JSON endpoint refusing other media types, and the
headers every answer carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from starlette.types import Message

from emk_common.http_guard import DEFAULT_MAX_BODY_BYTES, HttpGuard
from emk_common.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from emk_common.settings import ServiceSettings

LIMIT = 1024
UPLOAD_LIMIT = 4096


class Note(BaseModel):
    text: str


def build_app() -> tuple[FastAPI, list[str]]:
    """The app, and the names of the routes that ran (a refused request runs none)."""
    ran: list[str] = []
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/api/notes")
    async def create_note(note: Note) -> dict[str, int]:
        ran.append("notes")
        return {"length": len(note.text)}

    @app.post("/api/upload")
    async def upload(request: Request) -> dict[str, int]:
        """Reads its body itself, whatever its media type (like the documents upload)."""
        ran.append("upload")
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.get("/api/me")
    async def me() -> dict[str, str]:
        return {"name": "Анна"}

    @app.get("/api/cached")
    async def cached() -> JSONResponse:
        return JSONResponse({"public": True}, headers={"Cache-Control": "max-age=60"})

    @app.get("/check")
    async def check() -> PlainTextResponse:
        return PlainTextResponse("ok")

    app.add_middleware(HttpGuard, max_body_bytes=LIMIT, body_limits={"/api/upload": UPLOAD_LIMIT})
    return app, ran


@pytest.fixture
def app() -> FastAPI:
    return build_app()[0]


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


def note(size: int) -> bytes:
    """A JSON note of exactly ``size`` bytes."""
    body = b'{"text": "' + b"a" * (size - 12) + b'"}'
    assert len(body) == size
    return body


class Exchange:
    """One request straight through the ASGI app: what it read of the body, what it sent."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.read = 0  # receive() calls answered with a body chunk
        self.sent: list[Message] = []

    async def run(self, app: FastAPI, path: str, headers: dict[str, str]) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("svc", 80),
        }

        async def receive() -> dict[str, Any]:
            if not self.chunks:
                return {"type": "http.disconnect"}
            self.read += 1
            chunk = self.chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

        async def send(message: Message) -> None:
            self.sent.append(message)

        await app(scope, receive, send)

    @property
    def starts(self) -> list[Message]:
        return [m for m in self.sent if m["type"] == "http.response.start"]

    @property
    def status(self) -> int:
        [start] = self.starts  # exactly one answer
        return int(start["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        [start] = self.starts
        return dict(start["headers"])


# --- body limits ----------------------------------------------------------------------------


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    app, ran = build_app()
    exchange = Exchange([note(LIMIT + 1)])
    headers = {"Content-Type": "application/json", "Content-Length": str(50 * 1024 * 1024)}
    await exchange.run(app, "/api/notes", headers)
    assert exchange.status == 413
    assert exchange.read == 0  # not one receive(): the body stays unread
    assert ran == []
    assert exchange.headers[b"content-type"] == PROBLEM_MEDIA_TYPE.encode()
    async with client(app) as http:
        answer = await http.post(
            "/api/notes", content=note(LIMIT + 1), headers={"Content-Type": "application/json"}
        )
    problem = answer.json()
    assert answer.status_code == 413
    assert problem["status"] == 413
    assert problem["max_bytes"] == LIMIT
    assert "1 КБ" in problem["detail"]


async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    app, ran = build_app()
    chunks = [b'{"text": "', b"a" * 600, b"a" * 600, b"a" * 600, b'"}']
    exchange = Exchange(chunks)
    await exchange.run(
        app, "/api/notes", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )
    assert exchange.status == 413  # one answer: the route's own (a 400) is dropped
    assert exchange.read == 3  # the chunk that passed the limit was the last one read
    assert ran == []
    body = b"".join(m.get("body", b"") for m in exchange.sent)
    assert b'"max_bytes":1024' in body

    streamed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal streamed
        yield b'{"text": "'
        for _ in range(10_000):  # 10 MB, produced only as far as it is read
            streamed += 1024
            yield b"a" * 1024

    async with client(app) as http:
        answer = await http.post(
            "/api/notes", content=endless(), headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert streamed <= 10 * 1024  # httpx's test transport reads ahead a little; never it all


async def test_a_body_at_the_limit_passes_declared_or_chunked(app: FastAPI) -> None:
    async def chunked() -> AsyncIterator[bytes]:
        body = note(LIMIT)
        yield body[:500]
        yield body[500:]

    async with client(app) as http:
        declared = await http.post(
            "/api/notes", content=note(LIMIT), headers={"Content-Type": "application/json"}
        )
        streamed = await http.post(
            "/api/notes", content=chunked(), headers={"Content-Type": "application/json"}
        )
    assert declared.status_code == 200, declared.text
    assert streamed.status_code == 200, streamed.text
    assert declared.json() == streamed.json() == {"length": LIMIT - 12}


async def test_a_route_with_a_limit_of_its_own_takes_a_larger_body_up_to_it(app: FastAPI) -> None:
    async with client(app) as http:
        taken = await http.post("/api/upload", content=b"x" * UPLOAD_LIMIT)
        refused = await http.post("/api/upload", content=b"x" * (UPLOAD_LIMIT + 1))
    assert taken.status_code == 200
    assert taken.json() == {"size": UPLOAD_LIMIT}
    assert refused.status_code == 413
    assert refused.json()["max_bytes"] == UPLOAD_LIMIT


async def test_a_route_reading_its_own_body_is_cut_off_too() -> None:
    app, ran = build_app()
    exchange = Exchange([b"x" * 3000, b"x" * 3000, b"x" * 3000])
    await exchange.run(app, "/api/upload", {"Transfer-Encoding": "chunked"})
    assert exchange.status == 413
    assert exchange.read == 2
    assert ran == ["upload"]  # it ran, read up to the cut, and its answer went nowhere


def test_the_default_limit_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().emk_max_body_bytes == DEFAULT_MAX_BODY_BYTES == 64 * 1024
    monkeypatch.setenv("EMK_MAX_BODY_BYTES", "131072")
    assert ServiceSettings().emk_max_body_bytes == 131072


# --- media types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
async def test_a_json_endpoint_refuses_another_media_type_with_415(
    app: FastAPI, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with client(app) as http:
        answer = await http.post("/api/notes", content=b'{"text": "a"}', headers=headers)
    assert answer.status_code == 415, answer.text
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = answer.json()
    assert problem["allowed"] == ["application/json"]
    assert "JSON" in problem["detail"]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON",
     "application/merge-patch+json"],
)  # fmt: skip
async def test_json_media_types_are_taken(app: FastAPI, content_type: str) -> None:
    async with client(app) as http:
        answer = await http.post(
            "/api/notes", content=b'{"text": "abc"}', headers={"Content-Type": content_type}
        )
    assert answer.status_code == 200, answer.text


async def test_a_route_without_a_json_model_keeps_its_own_rules(app: FastAPI) -> None:
    async with client(app) as http:
        answer = await http.post(
            "/api/upload", content=b"plain", headers={"Content-Type": "text/plain"}
        )
        empty = await http.post("/api/notes", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200
    assert answer.json() == {"size": 5}
    assert empty.status_code == 422  # no body at all: the model's own error, not a 415


# --- headers --------------------------------------------------------------------------------


async def test_api_answers_are_not_stored_and_not_sniffed(app: FastAPI) -> None:
    async with client(app) as http:
        me = await http.get("/api/me")
        missing = await http.get("/api/nothing-here")
        refused = await http.post(
            "/api/notes", content=b"x", headers={"Content-Type": "text/plain"}
        )
    for answer in (me, missing, refused):
        assert answer.headers.get_list("cache-control") == ["no-store"], answer.request.url
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
    assert missing.status_code == 404


async def test_a_route_s_own_cache_control_is_kept_and_other_paths_are_left_alone(
    app: FastAPI,
) -> None:
    async with client(app) as http:
        cached = await http.get("/api/cached")
        page = await http.get("/check")
    assert cached.headers.get_list("cache-control") == ["max-age=60"]
    assert "cache-control" not in page.headers
    assert page.headers["x-content-type-options"] == "nosniff"
