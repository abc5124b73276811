from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
from fastapi import FastAPI

from emk_common.health import Check, Info, health_router


def client_for(
    checks: dict[str, Check] | None = None,
    informational: dict[str, Info] | None = None,
    timeout_seconds: float = 2.0,
) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(health_router(checks, informational, timeout_seconds=timeout_seconds))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def ok() -> None:
    return None


async def broken() -> None:
    raise ConnectionError("mongodb://admin:hunter2@db refused")


async def hangs() -> None:
    await asyncio.sleep(60)


async def connected() -> str:
    return "connected"


async def kafka_down() -> str:
    raise ConnectionError("no brokers")


async def test_healthz_checks_nothing() -> None:
    calls: list[str] = []

    async def counted() -> None:
        calls.append("called")
        raise ConnectionError

    async with client_for({"mongodb": counted}) as client:
        response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert calls == []


async def test_ready_when_every_check_passes() -> None:
    async with client_for({"mongodb": ok, "s3": ok}, {"kafka": connected}) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"mongodb": "ok", "s3": "ok"},
        "info": {"kafka": "connected"},
    }
    assert response.headers["cache-control"] == "no-store"


async def test_failing_check_makes_unready_without_leaking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="emk_common.health"):
        async with client_for({"mongodb": broken, "s3": ok}) as client:
            response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unready",
        "checks": {"mongodb": "fail", "s3": "ok"},
        "info": {},
    }
    assert "hunter2" not in response.text
    assert any(
        "mongodb" in r.getMessage() and r.exc_info and isinstance(r.exc_info[1], ConnectionError)
        for r in caplog.records
    )


async def test_checks_run_concurrently_under_a_timeout() -> None:
    checks: dict[str, Check] = {"mongodb": hangs, "s3": hangs, "clamd": ok}
    async with client_for(checks, timeout_seconds=0.2) as client:
        started = time.monotonic()
        response = await client.get("/readyz")
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["checks"] == {"mongodb": "fail", "s3": "fail", "clamd": "ok"}
    # two hung checks in sequence would take 0.4 s
    assert elapsed < 0.35


async def test_informational_never_makes_unready() -> None:
    async def slow_info() -> str:
        await asyncio.sleep(60)
        return "never"

    informational: dict[str, Info] = {"kafka": kafka_down, "relay": slow_info}
    async with client_for({"mongodb": ok}, informational, timeout_seconds=0.1) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["info"] == {"kafka": "unknown", "relay": "unknown"}


async def test_no_checks_is_ready() -> None:
    async with client_for() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {}, "info": {}}
