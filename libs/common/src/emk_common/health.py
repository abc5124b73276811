"""``GET /healthz`` (the process is alive) and ``GET /readyz`` (it can serve).

Liveness checks nothing outside the process: a MongoDB outage must not make the
orchestrator restart every replica. Readiness runs the service's checks concurrently,
each under a timeout, so one hung dependency cannot hang the probe. Informational
entries (Kafka's connection state) are reported and never make the service unready:
a service serves while the broker is down and the outbox catches up later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

__all__ = ["Check", "Info", "Liveness", "Readiness", "health_router"]

Check = Callable[[], Awaitable[None]]
"""Returns when the dependency is usable, raises otherwise."""
Info = Callable[[], Awaitable[str]]
"""Returns a short state for the report, e.g. ``"connected"``."""

_log = logging.getLogger(__name__)
_NO_STORE = {"Cache-Control": "no-store"}


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unready"]
    checks: dict[str, Literal["ok", "fail"]]
    info: dict[str, str]


def health_router(
    checks: Mapping[str, Check] | None = None,
    informational: Mapping[str, Info] | None = None,
    *,
    timeout_seconds: float = 2.0,
) -> APIRouter:
    readiness_checks = dict(checks or {})
    info_probes = dict(informational or {})
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Liveness)
    async def healthz() -> JSONResponse:
        return JSONResponse(Liveness().model_dump(), headers=_NO_STORE)

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency is unreachable"}},
    )
    async def readyz() -> JSONResponse:
        names = list(readiness_checks)
        info_names = list(info_probes)
        outcomes, infos = await asyncio.gather(
            asyncio.gather(*(_check(n, readiness_checks[n], timeout_seconds) for n in names)),
            asyncio.gather(*(_info(n, info_probes[n], timeout_seconds) for n in info_names)),
        )
        report = Readiness(
            status="ready" if all(outcomes) else "unready",
            checks={n: "ok" if ok else "fail" for n, ok in zip(names, outcomes, strict=True)},
            info=dict(zip(info_names, infos, strict=True)),
        )
        status_code = 200 if report.status == "ready" else 503
        return JSONResponse(report.model_dump(), status_code=status_code, headers=_NO_STORE)

    return router


async def _check(name: str, check: Check, limit: float) -> bool:
    try:
        async with asyncio.timeout(limit):
            await check()
    except TimeoutError:
        _log.warning("readiness check %s timed out after %.1f s", name, limit)
        return False
    except Exception:
        # The reason goes to the log only: the probe endpoint is unauthenticated.
        _log.warning("readiness check %s failed", name, exc_info=True)
        return False
    return True


async def _info(name: str, probe: Info, limit: float) -> str:
    try:
        async with asyncio.timeout(limit):
            return await probe()
    except Exception:
        _log.info("health info %s unavailable", name, exc_info=True)
        return "unknown"
