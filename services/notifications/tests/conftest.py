"""Notifications' API tests: the real app in this process, on the real MongoDB.

Tokens are signed here with a key the app is told to trust (a ``StaticKeys`` source, our own
port), as the documents tests do; the end-to-end suite uses identity's real tokens. The
dispatcher runs, but asks a fake directory that knows no contacts, so nothing leaves;
the app never reaches Kafka.
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
from notifications.adapters.directory import Contacts

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
    role: str = "citizen"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(self.user_id, self.role)}"}


def citizen() -> Person:
    return Person(uuid.uuid4().hex)


class NobodyReachable:
    async def contacts(self, user_id: str) -> Contacts:
        return Contacts(None, None)

    async def aclose(self) -> None:
        return None


@dataclass
class NotificationsApp:
    app: FastAPI

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://notifications"
        )

    @property
    def service(self) -> Any:
        return self.app.state.service


@pytest.fixture(scope="module")
async def notifications(stack: Stack | None) -> AsyncIterator[NotificationsApp]:
    from notifications.app import build
    from notifications.settings import NotificationsSettings

    settings = NotificationsSettings(
        mongodb_database=f"notifications_test_{uuid.uuid4().hex[:8]}",
        # Kept off Kafka: joining the real service's consumer group would take its events
        # (events here are handed to the handler directly; the e2e suite uses Kafka).
        kafka_bootstrap_servers="127.0.0.1:9",
    )
    app = build(settings)
    app.state.access_verifier = AccessTokenVerifier(
        StaticKeys({KID: KEY.public_key()}), issuer="emk-identity", audience="emk"
    )
    app.state.service.dispatcher.directory = NobodyReachable()
    async with app.router.lifespan_context(app):
        yield NotificationsApp(app)
