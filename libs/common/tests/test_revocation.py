"""Revoked sessions (``emk_common.revocation``): the in-memory set (bounded by the token
lifetime, one lookup a request), the verifier's refusal, and the per-replica reader against
the real Kafka — a revocation is seen within a deadline, by a reader started after it too
(seek by time), by every reader at once (no consumer group), and a service built by
``create_app`` refuses the session's token."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import jwt
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import UnsupportedVersionError
from aiokafka.structs import OffsetAndTimestamp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from emk_common.auth import AccessTokenVerifier, CurrentPrincipal, StaticKeys
from emk_common.catalog import SessionRevoked, UserRegistered
from emk_common.events import Envelope
from emk_common.kafka import ensure_topics
from emk_common.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from emk_common.revocation import RevocationReader, RevokedSessions
from emk_common.service import create_app, create_runtime
from emk_common.settings import ServiceSettings
from emk_devstack.stack import Stack
from emk_testing import FakeClock, eventually

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
EXPIRED = "Сеанс истёк, войдите снова."


# --- the set ----------------------------------------------------------------------------------


def test_a_session_is_refused_until_its_tokens_have_expired_then_forgotten() -> None:
    clock = FakeClock(NOW)
    revoked = RevokedSessions(clock)
    revoked.revoke("s-1", NOW + timedelta(minutes=15))
    assert revoked.is_revoked("s-1")
    assert not revoked.is_revoked("s-2")
    assert not revoked.is_revoked(None)  # a token without a session
    clock.advance(minutes=15)
    assert not revoked.is_revoked("s-1")  # its tokens are refused for being expired now
    assert revoked.forget_expired() == 1
    assert len(revoked) == 0


def test_a_revocation_whose_tokens_have_expired_is_not_kept() -> None:
    revoked = RevokedSessions(FakeClock(NOW))
    revoked.revoke("s-old", NOW - timedelta(seconds=1))
    assert not revoked.is_revoked("s-old")
    assert len(revoked) == 0


def test_a_second_revocation_extends_and_never_shortens() -> None:
    clock = FakeClock(NOW)
    revoked = RevokedSessions(clock)
    revoked.revoke("s-1", NOW + timedelta(minutes=5))
    revoked.revoke("s-1", NOW + timedelta(minutes=15))
    revoked.revoke("s-1", NOW + timedelta(minutes=1))  # read again out of order
    clock.advance(minutes=10)
    assert revoked.forget_expired() == 0  # the first bound's entry passes, the session stays
    assert revoked.is_revoked("s-1")
    clock.advance(minutes=5)
    assert revoked.forget_expired() == 1
    assert not revoked.is_revoked("s-1")


def test_memory_holds_at_most_one_token_lifetime_of_revocations() -> None:
    clock = FakeClock(NOW)
    revoked = RevokedSessions(clock)
    lifetime = timedelta(minutes=15)
    for n in range(3000):  # a revocation a second for 50 minutes
        revoked.revoke(f"s-{n}", clock() + lifetime)
        clock.advance(seconds=1)
        assert len(revoked) <= 15 * 60
    assert revoked.is_revoked("s-2999")
    assert not revoked.is_revoked("s-2000")
    assert len(revoked) == 15 * 60


# --- the verifier -----------------------------------------------------------------------------


def token(sid: str | None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "emk-identity", "aud": "emk", "sub": "u-1", "role": "citizen", "iat": now,
        "exp": now + 900, "jti": uuid.uuid4().hex,
    }  # fmt: skip
    if sid is not None:
        claims["sid"] = sid
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "k-1"})


def verifier() -> AccessTokenVerifier:
    return AccessTokenVerifier(
        StaticKeys({"k-1": KEY.public_key()}), issuer="emk-identity", audience="emk"
    )


def protected(app: FastAPI) -> FastAPI:
    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str | None]:
        return {"session": principal.session_id}

    return app


async def get_me(app: FastAPI, bearer: str, base_url: str = "http://svc") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        return await client.get("/me", headers={"Authorization": f"Bearer {bearer}"})


async def test_a_revoked_sessions_token_is_refused_as_an_expired_one() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.access_verifier = checks = verifier()
    protected(app)
    revoked = RevokedSessions()
    revoked.revoke("s-out", datetime.now(UTC) + timedelta(minutes=15))
    assert (await get_me(app, token("s-out"))).status_code == 200  # not handed the set yet

    checks.refuse_revoked(revoked)
    refused = await get_me(app, token("s-out"))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert refused.json()["detail"] == EXPIRED
    assert (await get_me(app, token("s-in"))).json() == {"session": "s-in"}
    assert (await get_me(app, token(None))).status_code == 200


# --- where a reader starts -------------------------------------------------------------------


@dataclass
class FakeConsumer:
    """What the reader's seek asks of aiokafka's consumer."""

    by_time: dict[TopicPartition, Any] | Exception
    asked: dict[TopicPartition, int] | None = None
    seeks: dict[TopicPartition, int | str] = field(default_factory=dict)

    async def offsets_for_times(self, wanted: dict[TopicPartition, int]) -> Any:
        self.asked = wanted
        if isinstance(self.by_time, Exception):
            raise self.by_time
        return self.by_time

    async def seek_to_beginning(self, partition: TopicPartition) -> None:
        self.seeks[partition] = "beginning"

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks[partition] = offset


P0, P1 = TopicPartition(SessionRevoked.topic, 0), TopicPartition(SessionRevoked.topic, 1)


async def test_a_reader_starts_at_the_first_record_of_the_last_token_lifetime() -> None:
    settings = ReaderSettings(access_token_ttl_seconds=900)
    reader = RevocationReader(settings, RevokedSessions(), wall_clock=lambda: 10_000.0)
    consumer = FakeConsumer({P0: OffsetAndTimestamp(42, 9_100_000), P1: None})
    await reader._seek(consumer, [P0, P1])
    # The token lifetime and a minute more, in the broker's milliseconds.
    assert consumer.asked == {P0: 9_040_000, P1: 9_040_000}
    # Where the broker knows no such record, the (short) topic is read from its beginning.
    assert consumer.seeks == {P0: 42, P1: "beginning"}

    refusing = FakeConsumer(UnsupportedVersionError())
    await reader._seek(refusing, [P0, P1])
    assert refusing.seeks == {P0: "beginning", P1: "beginning"}


# --- the reader, on the real Kafka ------------------------------------------------------------


class ReaderSettings(ServiceSettings):
    service_name: ClassVar[str] = "revocationprobe"


@dataclass(frozen=True)
class Servers:
    kafka: str
    mongodb: str
    fetch_max_wait_ms: int

    def settings(self, **changes: Any) -> ReaderSettings:
        return ReaderSettings(
            kafka_bootstrap_servers=self.kafka,
            mongodb_uri=self.mongodb,
            kafka_fetch_max_wait_ms=self.fetch_max_wait_ms,
            **changes,
        )


@pytest.fixture(scope="module")
def servers(stack: Stack | None) -> Servers:
    # Read before the unit tests' autouse fixture clears the environment.
    return Servers(
        os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        os.environ["MONGODB_URI"],
        int(os.environ.get("KAFKA_FETCH_MAX_WAIT_MS", "500")),
    )


def revocation(sid: str, *, lasts: timedelta = timedelta(minutes=15)) -> Envelope:
    now = datetime.now(UTC)
    data = SessionRevoked(session_id=sid, revoked_at=now, refuse_until=now + lasts)
    return Envelope.wrap(data, source="identity", subject=sid, at=now)


async def publish(
    servers: Servers, topic: str, records: list[tuple[bytes, int | None]], partitions: int = 3
) -> None:
    """Each (value, timestamp in ms or None for now), in order, to the topic (made if new)."""
    await ensure_topics(servers.settings(kafka_topic_partitions=partitions), [topic])
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka)
    await producer.start()
    try:
        for value, timestamp_ms in records:
            await producer.send_and_wait(
                topic, value, key=uuid.uuid4().hex.encode(), timestamp_ms=timestamp_ms
            )
    finally:
        await producer.stop()


@asynccontextmanager
async def reading(servers: Servers, topic: str) -> AsyncIterator[RevocationReader]:
    """A reader running in the background, as a service's lifespan runs it."""
    reader = RevocationReader(servers.settings(), RevokedSessions(), topic=topic)
    task = asyncio.create_task(reader.run())
    try:
        yield reader
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def new_topic() -> str:
    return f"emk.test.sessions.{uuid.uuid4().hex[:10]}"


def seen(reader: RevocationReader, sid: str) -> Callable[[], Any]:
    async def probe() -> bool:
        return reader.revoked.is_revoked(sid)

    return probe


async def test_every_reader_sees_a_revocation_within_a_second_or_two(servers: Servers) -> None:
    topic = new_topic()
    await publish(servers, topic, [(revocation("warm-up").to_bytes(), None)])
    async with reading(servers, topic) as one, reading(servers, topic) as other:
        await eventually(seen(one, "warm-up"), what="the first reader started")
        await eventually(seen(other, "warm-up"), what="the second reader started")
        sids = [uuid.uuid4().hex for _ in range(6)]  # over the partitions
        started = time.monotonic()
        await publish(servers, topic, [(revocation(sid).to_bytes(), None) for sid in sids])
        for sid in sids:  # both replicas see each one: no group shares them out
            await eventually(seen(one, sid), within=3, what=f"{sid} seen by one reader")
            await eventually(seen(other, sid), within=3, what=f"{sid} seen by the other")
        assert time.monotonic() - started < 3


async def test_a_reader_started_after_the_revocation_reads_the_last_token_lifetime(
    servers: Servers,
) -> None:
    topic = new_topic()
    two_hours_ago = int((time.time() - 7200) * 1000)
    # Older than a token lives: skipped by the seek, or (a broker whose offsets by time are
    # coarse, as Tansu's are) read and dropped, its tokens long expired.
    old = revocation("s-old", lasts=timedelta(hours=-1, minutes=-45)).to_bytes()
    recent = revocation("s-recent").to_bytes()
    unreadable = b"not an envelope"
    other_type = Envelope.wrap(UserRegistered(user_id="u-1"), source="identity", subject="u-1")
    await publish(
        servers,
        topic,
        [(old, two_hours_ago), (unreadable, None), (other_type.to_bytes(), None), (recent, None)],
        partitions=1,
    )
    async with reading(servers, topic) as reader:
        await eventually(seen(reader, "s-recent"), within=10, what="the earlier revocation")

        async def caught_up() -> bool:
            return reader.caught_up

        await eventually(caught_up, within=10, what="the reader caught up")
        assert not reader.revoked.is_revoked("s-old")
        assert len(reader.revoked) == 1
        # The unreadable record and the other type are skipped (and the reader goes on).
        assert reader.applied in (1, 2)


async def test_a_service_refuses_a_revoked_sessions_token_within_a_second_or_two(
    servers: Servers,
) -> None:
    settings = servers.settings(mongodb_database=f"revocation_probe_{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [SessionRevoked.topic])
    runtime = create_runtime(settings)
    app = protected(create_app(runtime, title="revocation probe", description="test"))
    app.state.access_verifier = verifier()  # as a service's build() sets it, after create_app
    sid = uuid.uuid4().hex
    bearer = token(sid)
    async with app.router.lifespan_context(app):
        assert (await get_me(app, bearer)).status_code == 200

        async def reading_now() -> bool:
            return bool(app.state.revocations.caught_up)

        await eventually(reading_now, what="the service's reader caught up")
        await publish(servers, SessionRevoked.topic, [(revocation(sid).to_bytes(), None)])

        async def refused() -> bool:
            answer = await get_me(app, bearer)
            return answer.status_code == 401 and answer.json()["detail"] == EXPIRED

        started = time.monotonic()
        await eventually(refused, within=5, what="the token refused")
        assert time.monotonic() - started < 2.5
        assert (await get_me(app, token(uuid.uuid4().hex))).status_code == 200
