"""The API gateway (Traefik) in front of the running services: one origin for the frontend,
nothing internal exposed, CORS for the listed origins only, bodies refused over their limit
before a service reads them, the public check limited per client, and a request id on every
answer (made by the services: Traefik makes none)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from emk_devstack.gateway import DEFAULT_ORIGINS, PUBLIC_BURST
from emk_devstack.stack import Stack

# A route of each service that answers 401 without a token: proof the request reached it.
GUARDED = {
    "identity": "/api/v1/identity/me",
    "applications": "/api/v1/applications",
    "documents": "/api/v1/documents",
    "records": "/api/v1/records/book",
    "notifications": "/api/v1/notifications",
}


@pytest.fixture
async def gateway(platform: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=platform.gateway_url, timeout=30)


async def test_every_service_is_reached_through_the_one_origin(gateway: httpx.AsyncClient) -> None:
    async with gateway:
        for service, path in GUARDED.items():
            answer = await gateway.get(path)
            assert answer.status_code == 401, (service, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert len(answer.headers["x-request-id"]) == 32
        chosen = await gateway.get(GUARDED["identity"], headers={"X-Request-Id": "front-42"})
        assert chosen.headers["x-request-id"] == "front-42"


@pytest.mark.parametrize(
    "path",
    ["/internal/v1/users/someone", "/docs", "/asyncapi", "/metrics", "/readyz", "/openapi.json"],
)
async def test_nothing_internal_is_routed(gateway: httpx.AsyncClient, path: str) -> None:
    async with gateway:
        answer = await gateway.get(path)
    assert answer.status_code == 404
    assert "x-request-id" not in answer.headers  # Traefik's own 404: no service saw it


async def test_cors_answers_a_listed_origin_only(gateway: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    async with gateway:
        listed = await gateway.options(
            GUARDED["applications"], headers={"Origin": DEFAULT_ORIGINS[0], **preflight}
        )
        other = await gateway.options(
            GUARDED["applications"], headers={"Origin": "https://evil.example", **preflight}
        )
    assert listed.status_code in (200, 204)
    assert listed.headers["access-control-allow-origin"] == DEFAULT_ORIGINS[0]
    assert "access-control-allow-credentials" not in listed.headers
    assert "POST" in listed.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in other.headers


async def test_a_body_over_the_limit_is_refused_at_the_gateway(platform: Stack) -> None:
    """A 6 MB JSON body: the gateway answers 413 on its length, before reading it (over a raw
    connection: an HTTP client would still be writing the body when the answer comes)."""
    size = 6 * 1024 * 1024
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.ports.gateway)
    try:
        head = (
            "POST /api/v1/identity/register HTTP/1.1\r\nHost: emk\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        )
        writer.write(head.encode() + b'{"email": "' + b"a" * 65536)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        answer = (await asyncio.wait_for(reader.read(4096), 10)).lower()
    finally:
        writer.close()
    assert status.startswith(b"HTTP/1.1 413"), status
    assert b"\r\nx-request-id:" not in answer  # refused before any service read it


async def test_the_public_check_is_limited_per_client(gateway: httpx.AsyncClient) -> None:
    code = "A" * 26  # no such code: the neutral page, until the limit
    async with gateway:
        answers = await asyncio.gather(
            *(gateway.get(f"/api/v1/records/verify/{code}") for _ in range(PUBLIC_BURST * 2))
        )
    by_gateway = [a for a in answers if a.status_code == 429 and "x-request-id" not in a.headers]
    assert by_gateway, [a.status_code for a in answers]
    assert len([a for a in answers if "x-request-id" in a.headers]) <= PUBLIC_BURST + 1
