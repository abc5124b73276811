"""Notifications' API tests: the real app in this process, on the real MongoDB.

Tokens are signed with the tests' own key, which the app is told to trust
(``emk_testing``); the end-to-end suite uses identity's real tokens. The
dispatcher runs, but asks a fake directory that knows no contacts, so nothing leaves;
the app never reaches Kafka.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from emk_devstack.stack import Stack
from emk_testing import Caller, trusting_verifier
from notifications.adapters.directory import Contacts

# Someone calling the service under test, with a token it trusts.
Person = Caller


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
    app.state.access_verifier = trusting_verifier()
    app.state.service.dispatcher.directory = NobodyReachable()
    async with app.router.lifespan_context(app):
        yield NotificationsApp(app)
