"""Notifications' API tests: the real app in this process (``build``), on the real MongoDB.

Tokens are signed with the tests' own key, which the app is told to trust
(``emk_testing``); the end-to-end suite uses identity's real tokens. The dispatcher runs,
but asks a fake directory that knows no contacts, so nothing leaves; the app never reaches
Kafka. The dispatcher's own tests run the service on a database of their own, with fakes
of its channels and of identity, and a clock they move.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from emk_common.service import Runtime
from emk_devstack.stack import Stack
from emk_testing import Caller, FakeClock, trusting_verifier
from notifications.app import build
from notifications.dispatcher import Dispatcher
from notifications.domain.reminders import QuietHours
from notifications.domain.retry import RetryPolicy
from notifications.ports import CodeOpener, ContactDirectory, Contacts, EmailSender, SmsSender
from notifications.service import Notifications
from notifications.settings import NotificationsSettings
from notifications.store import NotificationStore

# Someone calling the service under test, with a token it trusts.
Person = Caller


def citizen() -> Person:
    return Person(uuid.uuid4().hex)


@dataclass
class NobodyReachable:
    """Identity knowing no contacts; the regions of some people's addresses (the rest have
    not entered their personal data)."""

    regions: dict[str, str] = field(default_factory=dict)

    async def contacts(self, user_id: str) -> Contacts:
        return Contacts(None, None, region_code=self.regions.get(user_id))


@dataclass
class NotificationsApp:
    app: FastAPI
    clock: FakeClock

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://notifications"
        )

    @property
    def service(self) -> Notifications:
        service: Notifications = self.app.state.notifications
        return service

    @property
    def directory(self) -> NobodyReachable:
        directory = self.service.directory
        assert isinstance(directory, NobodyReachable)
        return directory

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@pytest.fixture(scope="module")
async def notifications(stack: Stack | None) -> AsyncIterator[NotificationsApp]:
    settings = NotificationsSettings(
        mongodb_database=f"notifications_test_{uuid.uuid4().hex[:8]}",
        # Kept off Kafka: joining the real service's consumer group would take its events
        # (events here are handed to the service directly; the e2e suite uses Kafka).
        kafka_bootstrap_servers="127.0.0.1:9",
        # The clock below is the real hour: no quiet window, whatever hour the tests run at
        # (the quiet hours are tested on a clock set in them: test_reminders.py).
        quiet_hours_start=0,
        quiet_hours_end=0,
    )
    # Moved on a second before each event, so their order is certain. (Not a day back: the
    # outbox relay, on the same clock, then took 10 s to stop — see the report.)
    clock = FakeClock(datetime.now(UTC))
    app = build(settings, clock=clock, directory=NobodyReachable(), verifier=trusting_verifier())
    async with app.router.lifespan_context(app):
        yield NotificationsApp(app, clock)


@pytest.fixture(autouse=True)
def _on_the_stack(stack: Stack | None) -> None:
    """Every test here runs on the real servers, whether or not it asks for ``notifications``."""


# --- the dispatcher on the real MongoDB ------------------------------------------------------

STATUS_POLICY = RetryPolicy(3, timedelta(seconds=30), timedelta(minutes=10))
OTP_POLICY = RetryPolicy(3, timedelta(seconds=2), timedelta(seconds=30))


@dataclass
class Dispatching:
    """The service's use cases on a database of the test's own, and dispatchers for them as
    replicas would run them."""

    store: NotificationStore
    db: AsyncDatabase[dict[str, Any]]
    directory: ContactDirectory
    sms: SmsSender
    email: EmailSender
    codes: CodeOpener
    clock: FakeClock
    staged: Callable[[], None]

    def service(
        self, owner: str = "replica-a", quiet: QuietHours | None = None, sms_per_hour: int = 0
    ) -> Notifications:
        return Notifications(
            self.store,
            directory=self.directory,
            sms=self.sms,
            email=self.email,
            codes=self.codes,
            policy=STATUS_POLICY,
            otp_policy=OTP_POLICY,
            owner=owner,
            lease=timedelta(seconds=60),
            clock=self.clock,
            deliveries_staged=self.staged,
            quiet=quiet,
            sms_per_hour=sms_per_hour,
        )

    def dispatcher(self, owner: str = "replica-a", concurrency: int = 4) -> Dispatcher:
        # Polls once an hour: only a wake, or the test, makes it look.
        return Dispatcher(self.service(owner), poll_seconds=3600, concurrency=concurrency)

    async def get(self, delivery_id: str) -> dict[str, Any]:
        doc = await self.db["deliveries"].find_one({"_id": delivery_id})
        assert doc is not None
        return doc
