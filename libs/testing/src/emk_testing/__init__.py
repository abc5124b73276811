"""Helpers for the project's tests: waiting on a condition with a deadline (never a bare
sleep), and access tokens for a service under test that trusts a key of the test's own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import jwt
from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emk_common.auth import AccessTokenVerifier, StaticKeys
from emk_common.events import Envelope
from emk_testing.access_log import MemoryAccessLog as MemoryAccessLog

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    within: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; after ``within`` seconds, fail."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        try:
            # The deadline holds even when one probe hangs (a stuck network call).
            async with asyncio.timeout(max(0.0, deadline - time.monotonic()) + interval):
                last = await probe()
        except TimeoutError:
            raise AssertionError(
                f"{what}: a probe was still running after {within:.0f} s"
            ) from None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {within:.0f} s waiting for {what}; last: {last!r}"
            )
        await asyncio.sleep(interval)


class FakeClock:
    """A service's clock (``emk_common.clock``) that the test moves: ``clock.advance(days=31)``."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


_TEST_KEY = Ed25519PrivateKey.generate()
_TEST_KID = "test-key"


def signed_token(
    user_id: str,
    role: str,
    *,
    ttl_seconds: int = 600,
    organization_id: str | None = None,
    auth_time: int | None = None,
) -> str:
    """An access token as identity issues it, signed with the tests' own key."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "emk-identity", "aud": "emk", "sub": user_id, "role": role, "iat": now,
        "exp": now + ttl_seconds, "jti": uuid.uuid4().hex, "sid": uuid.uuid4().hex,
        "auth_time": now if auth_time is None else auth_time,
    }  # fmt: skip
    if organization_id is not None:
        claims["org"] = organization_id
    return jwt.encode(claims, _TEST_KEY, algorithm="EdDSA", headers={"kid": _TEST_KID})


def trusting_verifier() -> AccessTokenVerifier:
    """What a service under test sets as ``app.state.access_verifier`` to trust
    :func:`signed_token` (the end-to-end suite uses identity's real tokens and JWKS)."""
    return AccessTokenVerifier(
        StaticKeys({_TEST_KID: _TEST_KEY.public_key()}), issuer="emk-identity", audience="emk"
    )


def service_token(caller: str, audience: str) -> str:
    """A service token ``caller`` sends to ``audience``, signed with the caller's key from the
    environment (the local stack's), as the caller itself would make it."""
    from emk_common.service_auth import ServiceTokenIssuer
    from emk_common.settings import ServiceSettings

    class Settings(ServiceSettings):
        service_name = caller

    return ServiceTokenIssuer.from_settings(Settings()).token_for(audience)


@dataclass(frozen=True)
class Caller:
    """Someone calling a service under test."""

    user_id: str
    role: str = "citizen"
    organization_id: str | None = None

    @classmethod
    def new(cls, role: str = "citizen", organization_id: str | None = None) -> Caller:
        return cls(uuid.uuid4().hex, role, organization_id)

    @property
    def headers(self) -> dict[str, str]:
        token = signed_token(self.user_id, self.role, organization_id=self.organization_id)
        return {"Authorization": f"Bearer {token}"}

    def headers_signed_in_at(self, auth_time: int) -> dict[str, str]:
        """Headers whose token says the second factor was passed at ``auth_time``."""
        token = signed_token(
            self.user_id, self.role, organization_id=self.organization_id, auth_time=auth_time
        )
        return {"Authorization": f"Bearer {token}"}


def _named(envelope: Envelope, name: str) -> bool:
    """Whether the envelope's type (``<topic>.<Name>.v<N>``) is of the event ``name``."""
    _, event, version = envelope.type.rsplit(".", 2)
    return event == name and version.startswith("v")


class TopicTap:
    """Every envelope on a topic, read back from Kafka as an outside consumer would (no
    group), each with the wall-clock second it arrived."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        start: Literal["earliest", "latest"] = "earliest",
        fetch_max_wait_ms: int = 10,
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset=start,
            fetch_max_wait_ms=fetch_max_wait_ms,
            # The topic may be created only when a service starts: look again soon.
            metadata_max_age_ms=500,
        )
        self.seen: list[tuple[float, Envelope]] = []
        self._task: asyncio.Task[None] | None = None
        self._start = start

    async def __aenter__(self) -> TopicTap:
        await self._consumer.start()
        if self._start == "latest":
            await self._pin_the_end()
        self._task = asyncio.create_task(self._collect())
        return self

    async def _pin_the_end(self) -> None:
        """Resolve "latest" now: each partition's position is fixed at its end before this
        returns, so everything published afterwards is seen (and nothing of the backlog is
        read — a long topic takes many seconds to replay)."""
        consumer = self._consumer

        async def assigned() -> set[Any] | None:
            return consumer.assignment() or None

        partitions = await eventually(assigned, within=30, what="the tap's partitions")
        assert partitions is not None
        for partition in partitions:
            await consumer.position(partition)

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _collect(self) -> None:
        async for record in self._consumer:
            self.seen.append((time.time(), Envelope.from_bytes(record.value)))

    def of(self, subject: str, name: str | None = None) -> list[Envelope]:
        """The envelopes of one aggregate, of one event name (``ApplicationRejected``, of any
        version) or all."""
        return [
            envelope
            for _, envelope in self.seen
            if envelope.subject == subject and (name is None or _named(envelope, name))
        ]

    def first_arrival(self, subject: str, name: str) -> float | None:
        return next(
            (
                at
                for at, envelope in self.seen
                if envelope.subject == subject and _named(envelope, name)
            ),
            None,
        )

    async def wait(self, subject: str, name: str, count: int = 1) -> list[Envelope]:
        async def enough() -> list[Envelope] | None:
            found = self.of(subject, name)
            return found if len(found) >= count else None

        found = await eventually(enough, within=30, what=f"{count} × {name} of {subject}")
        assert found is not None
        return found
