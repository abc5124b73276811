"""Identity's API tests: the real app, in this process, on the real MongoDB and Kafka.

Each module gets its own database and small limits. Clients come through a trusted proxy
(the test's own address) with their own ``X-Forwarded-For``, so rate limits never leak
between tests. Codes are caught at the courier (our own port) as they are sealed; the
end-to-end suite reads them from the real SMS spool and Maildir instead.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from emk_common.events import Envelope
from emk_devstack.stack import Stack
from identity.adapters.courier import SealedCodeCourier
from identity.adapters.passwords import Argon2Passwords
from identity.app import build
from identity.domain.user import Channel
from identity.ports import CodeCourier, Purpose
from identity.service import Identity as IdentityService
from identity.settings import IdentitySettings


@dataclass
class Sent:
    destination: str
    code: str
    purpose: str


@dataclass
class RecordingCourier:
    """Wraps the real courier (the command is still sealed and sent) and keeps the code."""

    inner: CodeCourier
    sent: list[Sent] = field(default_factory=list)

    def command(
        self,
        *,
        subject: str,
        user_id: str,
        channel: Channel,
        destination: str,
        code: str,
        purpose: Purpose,
        expires_at: datetime,
        at: datetime,
    ) -> Envelope:
        self.sent.append(Sent(destination, code, purpose))
        return self.inner.command(
            subject=subject,
            user_id=user_id,
            channel=channel,
            destination=destination,
            code=code,
            purpose=purpose,
            expires_at=expires_at,
            at=at,
        )

    def last_code(self, destination: str) -> str:
        return next(s.code for s in reversed(self.sent) if s.destination == destination)


@dataclass
class Identity:
    app: FastAPI
    settings: IdentitySettings
    courier: RecordingCourier
    passwords: Argon2Passwords

    @property
    def service(self) -> IdentityService:
        service: IdentityService = self.app.state.identity
        return service

    def client(self, ip: str | None = None, peer: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(peer, 50000))
        return httpx.AsyncClient(
            transport=transport,
            base_url="http://identity",
            headers={"X-Forwarded-For": ip or new_ip()},
        )


@pytest.fixture(scope="module")
def identity_settings(stack: Stack | None) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "mongodb_database": f"identity_test_{suffix}",
        # A group of its own (identity reads the audit anchors): this module's apps must not
        # leave members in the group the end-to-end tests' identity joins.
        "kafka_consumer_group": f"identity-test-{suffix}",
        "trusted_proxies": ["127.0.0.1"],
        "lockout_threshold": 3,
        "argon2_memory_kib": 8192,
        "argon2_time_cost": 1,
    }


@pytest.fixture(scope="module")
async def identity(identity_settings: dict[str, Any]) -> AsyncIterator[Identity]:
    settings = IdentitySettings(**identity_settings)
    courier = RecordingCourier(
        SealedCodeCourier.from_keyring(
            settings.notifications_otp_public_keys, settings.notifications_otp_kid
        )
    )
    passwords = Argon2Passwords.from_settings(settings)
    app = build(settings, courier=courier, passwords=passwords)
    async with app.router.lifespan_context(app):
        yield Identity(app, settings, courier, passwords)


_ADDRESSES = itertools.count(1)


def new_ip() -> str:
    """A client address no other test has used (IPv6 documentation range; nothing is sent
    there), so one test's rate-limit bucket never carries into another's."""
    return f"2001:db8::{next(_ADDRESSES):x}"


@pytest.fixture
def ip() -> str:
    return new_ip()


def person(**overrides: Any) -> dict[str, Any]:
    """A valid registration with unique contacts and a correct random СНИЛС."""
    from emk_identifiers import snils_check_number

    number = uuid.uuid4().int
    first_nine = f"{number % 900_000_000 + 100_000_000:09d}"
    return {
        "last_name": "Петрова",
        "first_name": "Анна",
        "middle_name": "Игоревна",
        "birth_date": "1992-02-29",
        "sex": "F",
        "phone": f"+79{number % 1_000_000_000:09d}",
        "email": f"anna.{uuid.uuid4().hex[:10]}@example.ru",
        "password": "Тёплый-дождь-в-мае-7",
        "snils": f"{first_nine}{snils_check_number(first_nine):02d}",
        **overrides,
    }


@pytest.fixture(autouse=True)
def _on_the_stack(stack: Stack | None) -> None:
    """Every test here runs on the real servers, whether or not it asks for ``identity``."""
