"""Documents' API tests: the real app in this process, on the real MongoDB, S3 and clamd.

Tokens are signed here with a key the app is told to trust (a ``StaticKeys`` source, our own
port) — the end-to-end suite uses identity's real tokens and JWKS.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from emk_common.auth import AccessTokenVerifier, StaticKeys
from emk_devstack.stack import Stack

KEY = Ed25519PrivateKey.generate()
KID = "test-key"


def token(user_id: str, role: str) -> str:
    now = int(time.time())
    claims = {
        "iss": "emk-identity", "aud": "emk", "sub": user_id, "role": role, "iat": now,
        "exp": now + 600, "jti": uuid.uuid4().hex, "sid": uuid.uuid4().hex,
    }  # fmt: skip
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": KID})


@dataclass
class Person:
    user_id: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(self.user_id, self.role)}"}


def citizen() -> Person:
    return Person(uuid.uuid4().hex, "citizen")


@dataclass
class DocumentsApp:
    app: FastAPI

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://documents", timeout=60
        )

    @property
    def runtime(self) -> Any:
        return self.app.state.documents.runtime


async def started(settings: dict[str, Any]) -> AsyncIterator[DocumentsApp]:
    from documents.app import build
    from documents.settings import DocumentsSettings

    app = build(DocumentsSettings(**settings))
    app.state.access_verifier = AccessTokenVerifier(
        StaticKeys({KID: KEY.public_key()}), issuer="emk-identity", audience="emk"
    )
    async with app.router.lifespan_context(app):
        yield DocumentsApp(app)


@pytest.fixture(scope="module")
async def documents(stack: Stack | None) -> AsyncIterator[DocumentsApp]:
    suffix = uuid.uuid4().hex[:8]
    async for app in started(
        {"mongodb_database": f"documents_test_{suffix}", "s3_bucket": f"documents-{suffix}"}
    ):
        yield app
