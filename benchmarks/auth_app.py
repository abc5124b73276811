"""One endpoint twice: open, and behind users' access tokens checked exactly as every
service checks them (JWKS from the running identity service, cached)."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI

from emk_common.auth import AccessTokenVerifier, CurrentPrincipal
from emk_common.settings import ServiceSettings


class BenchSettings(ServiceSettings):
    service_name: ClassVar[str] = "bench"


PAYLOAD = {"status": "valid", "book_number": "86-01-027970-25", "next_due": "2027-03-01"}

app = FastAPI()
app.state.access_verifier = AccessTokenVerifier.from_settings(BenchSettings())


@app.get("/open")
async def open_endpoint() -> dict[str, Any]:
    return PAYLOAD


@app.get("/protected")
async def protected_endpoint(principal: CurrentPrincipal) -> dict[str, Any]:
    return PAYLOAD
