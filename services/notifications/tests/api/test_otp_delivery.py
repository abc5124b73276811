"""Delivering sealed one-time codes: the inbox handler only stores a pending delivery with
the sealed box; the dispatcher opens it in memory, sends, retries within seconds, drops a
code that expired, and forgets the box once the delivery ends.

The deliveries and the inbox live in the real MongoDB; the providers are fakes of our own
SMS/e-mail ports and time is a clock the test moves (the end-to-end suite uses the real
spool and SMTP server).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pymongo import AsyncMongoClient

from emk_common.catalog import DeliverOtp
from emk_common.events import Envelope
from emk_common.inbox import Inbox
from emk_common.outbox import Outbox
from emk_testing import FakeClock
from notifications.adapters.sealed import Keyring
from notifications.store import NotificationStore

from ..unit.fakes import START, FlakyMail, FlakySms, NoDirectory, sealed_code
from .conftest import Dispatching

PRIVATE = X25519PrivateKey.generate()
PUBLIC = PRIVATE.public_key().public_bytes_raw()
CODE, PHONE, EMAIL = "482913", "+79990001122", "anna@example.ru"
LOGIN_TEXT = f"Код для входа в ЭМК: {CODE}. Никому не сообщайте его, даже сотрудникам."
HANDLER = "notifications.deliver_otp"


@dataclass
class Rig(Dispatching):
    sms: FlakySms
    email: FlakyMail
    inbox: Inbox | None = None
    wakes: list[None] = field(default_factory=list)

    def command(
        self, *, expires_in: timedelta = timedelta(minutes=5), channel: str = "sms"
    ) -> Envelope:
        event_id = str(uuid.uuid4())
        expires_at = self.clock() + expires_in
        destination = PHONE if channel == "sms" else EMAIL
        data = DeliverOtp(
            user_id="u1",
            channel="sms" if channel == "sms" else "email",
            purpose="login",
            expires_at=expires_at,
            sealed=sealed_code(PUBLIC, event_id, destination, CODE, expires_at),
        )
        return Envelope.wrap(data, source="identity", subject="challenge-1", event_id=event_id)

    async def handle(self, envelope: Envelope) -> bool:
        """Through the inbox, as the consumer does; True if the handler's effect was applied."""
        assert self.inbox is not None
        data = DeliverOtp.model_validate(envelope.data)
        service = self.service()
        applied: bool = await self.inbox.apply_once(
            HANDLER,
            envelope.id,
            lambda session: service.stage_one_time_code(data, envelope.id, session),
        )
        return applied

    async def of(self, envelope: Envelope) -> dict[str, Any]:
        [doc] = await self.db["deliveries"].find({"trigger_event_id": envelope.id}).to_list()
        return doc


@pytest.fixture
async def rig(mongo: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[Rig]:
    db = mongo[f"notifications_otp_{uuid.uuid4().hex[:8]}"]
    store = NotificationStore(db, Outbox(8))
    await store.ensure_indexes()
    await db.create_collection("inbox")  # collections are not created inside a transaction
    wakes: list[None] = []
    yield Rig(
        store,
        db,
        NoDirectory(),
        FlakySms(),
        FlakyMail(),
        Keyring({"otp-1": PRIVATE.private_bytes_raw()}),
        FakeClock(START),
        lambda: wakes.append(None),
        inbox=Inbox(mongo, db["inbox"]),
        wakes=wakes,
    )
    await mongo.drop_database(db.name)


def events_of(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e["type"].split(".")[2], json.loads(e["body"])["data"]) for e in doc.get("_outbox", [])
    ]


def attempts_of(doc: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(a["outcome"], a["error"]) for a in doc["attempts"]]


async def test_a_code_is_sent_once_after_the_commit_and_leaves_no_trace(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    envelope = rig.command()
    ciphertext = DeliverOtp.model_validate(envelope.data).sealed.ciphertext
    assert await rig.handle(envelope) is True
    assert rig.sms.sent == []  # the handler sends nothing: it stores and wakes
    assert len(rig.wakes) == 1
    pending = await rig.of(envelope)
    assert (pending["kind"], pending["state"], pending["channel"]) == (
        "one_time_code",
        "pending",
        "sms",
    )
    assert (pending["purpose"], pending["user_id"]) == ("login", "u1")
    assert pending["sealed"]["ciphertext"] == ciphertext
    assert CODE not in str(pending)
    assert PHONE not in str(pending)

    dispatcher = rig.dispatcher()
    assert await dispatcher.drain() == 1
    assert await dispatcher.drain() == 0
    assert rig.sms.sent == [(PHONE, LOGIN_TEXT)]
    doc = await rig.of(envelope)
    assert doc["state"] == "sent"
    assert attempts_of(doc) == [("sent", None)]
    assert "sealed" not in doc
    for secret in (CODE, PHONE, ciphertext):
        assert secret not in str(doc)
    # Every log at DEBUG (pymongo's commands too, which do show the stored box).
    assert "sent over sms" in caplog.text
    assert CODE not in caplog.text
    assert PHONE not in caplog.text
    [(kind, data)] = events_of(doc)
    assert kind == "NotificationSent"
    assert (data["notification_id"], data["trigger_event_id"]) == (doc["_id"], envelope.id)
    assert (data["user_id"], data["channel"]) == ("u1", "sms")


async def test_an_expired_command_is_recorded_and_dropped_unsent(rig: Rig) -> None:
    envelope = rig.command(expires_in=timedelta(seconds=-1))
    await rig.handle(envelope)
    doc = await rig.of(envelope)
    assert (doc["kind"], doc["state"], doc["attempts"]) == ("one_time_code", "expired", [])
    assert "sealed" not in doc
    assert events_of(doc) == []
    assert rig.wakes == []
    assert await rig.dispatcher().drain() == 0
    assert rig.sms.sent == []


async def test_a_code_that_expires_while_waiting_for_a_retry_is_not_sent(rig: Rig) -> None:
    envelope = rig.command()
    await rig.handle(envelope)
    rig.sms.failures = 1
    dispatcher = rig.dispatcher()
    await dispatcher.drain()
    assert (await rig.of(envelope))["state"] == "pending"
    rig.clock.advance(seconds=301)  # e.g. the dispatcher was down past the code's lifetime
    assert await dispatcher.drain() == 1
    doc = await rig.of(envelope)
    assert doc["state"] == "expired"
    assert attempts_of(doc) == [("error", "ConnectionError"), ("expired", "expired")]
    assert "sealed" not in doc
    assert events_of(doc) == []  # neither sent nor a failure to report
    assert rig.sms.sent == []
    rig.clock.advance(seconds=3600)
    assert await dispatcher.drain() == 0


async def test_a_failed_attempt_is_retried_within_seconds_then_sent(rig: Rig) -> None:
    envelope = rig.command()
    await rig.handle(envelope)
    rig.sms.failures = 2
    dispatcher = rig.dispatcher()
    await dispatcher.drain()
    doc = await rig.of(envelope)
    assert doc["next_attempt_at"] == rig.clock() + timedelta(seconds=2)
    assert "sealed" in doc  # still needed for the retry
    rig.clock.advance(seconds=1)
    assert await dispatcher.drain() == 0  # not due yet
    rig.clock.advance(seconds=1)
    assert await dispatcher.drain() == 1
    assert (await rig.of(envelope))["next_attempt_at"] == rig.clock() + timedelta(seconds=4)
    rig.clock.advance(seconds=4)
    assert await dispatcher.drain() == 1
    doc = await rig.of(envelope)
    assert doc["state"] == "sent"
    assert [o for o, _ in attempts_of(doc)] == ["error", "error", "sent"]
    assert [kind for kind, _ in events_of(doc)] == ["NotificationSent"]
    assert rig.sms.sent == [(PHONE, LOGIN_TEXT)]


async def test_a_code_that_keeps_failing_is_reported(rig: Rig) -> None:
    envelope = rig.command()
    await rig.handle(envelope)
    rig.sms.failures = 99
    dispatcher = rig.dispatcher()
    for pause in (0, 2, 4):
        rig.clock.advance(seconds=pause)
        assert await dispatcher.drain() == 1
    doc = await rig.of(envelope)
    assert doc["state"] == "failed"
    assert attempts_of(doc) == [("error", "ConnectionError")] * 3
    assert "sealed" not in doc
    [(kind, data)] = events_of(doc)
    assert kind == "NotificationFailed"
    assert (data["attempts"], data["error_code"], data["channel"]) == (3, "ConnectionError", "sms")
    assert (data["notification_id"], data["trigger_event_id"]) == (doc["_id"], envelope.id)
    assert rig.sms.sent == []


async def test_email_codes_go_by_mail(rig: Rig) -> None:
    envelope = rig.command(channel="email")
    await rig.handle(envelope)
    await rig.dispatcher().drain()
    assert rig.email.sent == [(EMAIL, "Код для входа — ЭМК", LOGIN_TEXT)]
    assert rig.sms.sent == []
    doc = await rig.of(envelope)
    assert (doc["state"], doc["channel"]) == ("sent", "email")
    assert EMAIL not in str(doc)


async def test_a_box_moved_to_another_event_does_not_open(rig: Rig) -> None:
    moved = rig.command().model_copy(update={"id": str(uuid.uuid4())})
    await rig.handle(moved)
    dispatcher = rig.dispatcher()
    for pause in (0, 2, 4):
        rig.clock.advance(seconds=pause)
        await dispatcher.drain()
    doc = await rig.of(moved)
    assert attempts_of(doc) == [("error", "DecryptionError")] * 3
    assert doc["state"] == "failed"
    [(kind, data)] = events_of(doc)
    assert (kind, data["error_code"]) == ("NotificationFailed", "DecryptionError")
    assert rig.sms.sent == []


async def test_a_redelivered_command_creates_one_delivery(rig: Rig) -> None:
    envelope = rig.command()
    assert await rig.handle(envelope) is True
    assert await rig.handle(envelope) is False  # the same envelope id again
    await rig.of(envelope)  # exactly one
    assert await rig.dispatcher().drain() == 1
    assert len(rig.sms.sent) == 1
