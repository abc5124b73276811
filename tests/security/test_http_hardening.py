"""Every service, as a real process: a request body over its limit is refused with 413
before it is read (declared) or as soon as it passes the limit (chunked), a JSON endpoint
refuses another media type with 415, and an answer with personal data is neither stored by
a cache nor sniffed. Straight to each service's port, not through the gateway (which has its
own limits and headers): the services must hold on their own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emk_devstack.stack import Stack

from ..e2e.journey import Inbox, bearer, login, new_person

LIMIT = 64 * 1024
UNKNOWN = "00000000-0000-4000-8000-000000000000"
# A route of each service whose body is a JSON model (no token needed to be refused).
JSON_ROUTES = {
    "identity": ("POST", "/api/v1/identity/register"),
    "applications": ("POST", "/api/v1/applications"),
    "documents": ("POST", f"/api/v1/documents/{UNKNOWN}/reject"),
    "records": ("POST", "/api/v1/records/books/lookup"),
    "notifications": ("PUT", "/api/v1/notifications/preferences"),
}
# What a signed-in citizen reads from each service: their own data.
PRIVATE_READS = {
    "identity": "/api/v1/identity/me",
    "applications": "/api/v1/applications",
    "documents": "/api/v1/documents",
    "records": "/api/v1/records/book",  # 404 before a book is issued: still an answer to them
    "notifications": "/api/v1/notifications/preferences",
}
ANSWER_WITHIN = 10.0  # seconds; an answer that waited for the body would never come


class Raw:
    """One HTTP/1.1 exchange over a bare socket: the head and as much body as we choose to
    send, then the answer read without sending the rest."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def exchange(self, head: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
            return await asyncio.wait_for(_read_answer(reader), ANSWER_WITHIN)
        finally:
            writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def _head(method: str, path: str, *lines: str) -> str:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: emk", *lines, "", ""])


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _assert_too_large(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413, body
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    problem: dict[str, Any] = json.loads(body)
    assert (problem["status"], problem["max_bytes"]) == (413, LIMIT)
    assert problem["type"].endswith("/payload-too-large")
    assert "64 КБ" in problem["detail"]


@pytest.mark.parametrize("service", list(JSON_ROUTES))
async def test_a_declared_50_mb_body_is_refused_before_it_is_read(
    platform: Stack, service: str
) -> None:
    method, path = JSON_ROUTES[service]
    head = _head(
        method, path, "Content-Type: application/json", f"Content-Length: {50 * 1024 * 1024}"
    )
    # A few bytes of the 50 MB: the answer comes without the rest ever being sent.
    answer = await Raw(platform.ports.of(service)).exchange(head, b'{"last_name": "' + b"a" * 1000)
    _assert_too_large(*answer)


@pytest.mark.parametrize("service", list(JSON_ROUTES))
async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    platform: Stack, service: str
) -> None:
    method, path = JSON_ROUTES[service]
    head = _head(method, path, "Content-Type: application/json", "Transfer-Encoding: chunked")
    # 80 KB in five chunks and no final chunk: the body never ends, yet the answer comes.
    body = _chunk(b'{"a": "' + b"a" * (16 * 1024 - 7)) + _chunk(b"a" * 16 * 1024) * 4
    answer = await Raw(platform.ports.of(service)).exchange(head, body)
    _assert_too_large(*answer)


@pytest.mark.parametrize("service", list(JSON_ROUTES))
async def test_a_text_body_sent_to_a_json_endpoint_is_415(platform: Stack, service: str) -> None:
    method, path = JSON_ROUTES[service]
    async with httpx.AsyncClient(base_url=platform.service_url(service), timeout=30) as http:
        answer = await http.request(
            method, path, content=b'{"a": 1}', headers={"Content-Type": "text/plain"}
        )
    assert answer.status_code == 415, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["allowed"] == ["application/json"]


@pytest.fixture(scope="module")
async def citizen_tokens(platform: Stack) -> AsyncIterator[dict[str, Any]]:
    """A citizen who registered, confirmed both contacts and signed in."""
    inbox = Inbox(platform.var_dir)
    person = new_person()
    async with httpx.AsyncClient(base_url=platform.service_url("identity"), timeout=30) as http:
        registered = await http.post("/api/v1/identity/register", json=person)
        assert registered.status_code == 201, registered.text
        user_id = registered.json()["user_id"]
        for channel, to in (("sms", person["phone"]), ("email", person["email"])):
            code = await inbox.code(to, 0)
            verified = await http.post(
                "/api/v1/identity/contacts/verify",
                json={"user_id": user_id, "channel": channel, "code": code},
            )
            assert verified.status_code == 200, verified.text
        yield await login(
            http, inbox, person["email"], person["password"], channel_target=person["phone"]
        )


@pytest.mark.parametrize("service", list(PRIVATE_READS))
async def test_an_answer_with_personal_data_is_not_stored_or_sniffed(
    platform: Stack, citizen_tokens: dict[str, Any], service: str
) -> None:
    async with httpx.AsyncClient(base_url=platform.service_url(service), timeout=30) as http:
        answer = await http.get(PRIVATE_READS[service], headers=bearer(citizen_tokens))
    assert answer.status_code in (200, 404), answer.text
    assert answer.status_code == 200 or service == "records"
    assert answer.headers["content-type"] in ("application/json", "application/problem+json")
    assert answer.headers.get_list("cache-control") == ["no-store"]
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
