"""Delivering sealed one-time codes: sent once, expired ones dropped, failures retried and
reported. The delivery log lives in the real MongoDB; the providers are fakes of our own
SMS/e-mail ports (the end-to-end suite uses the real spool and SMTP server)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pymongo import AsyncMongoClient

from emk_common.catalog import DeliverOtp
from emk_common.crypto import DecryptionError, seal
from emk_common.events import Envelope
from emk_common.service import create_runtime
from notifications.handlers.otp import OtpDelivery
from notifications.settings import NotificationsSettings

pytestmark = pytest.mark.integration

PRIVATE = X25519PrivateKey.generate()
PUBLIC = PRIVATE.public_key().public_bytes_raw()


@dataclass
class FlakySms:
    failures: int = 0
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, to: str, text: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("gateway unavailable")
        self.sent.append((to, text))


@dataclass
class Mail:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    async def send(self, to: str, subject: str, text: str) -> None:
        self.sent.append((to, subject, text))


def command(*, expires_in: timedelta = timedelta(minutes=5), channel: str = "sms") -> Envelope:
    event_id = str(uuid.uuid4())
    expires_at = datetime.now(UTC) + expires_in
    destination = "+79990001122" if channel == "sms" else "anna@example.ru"
    box = seal(
        json.dumps(
            {"destination": destination, "code": "482913", "expires_at": expires_at.isoformat()}
        ).encode(),
        recipient_public_key=PUBLIC,
        kid="otp-1",
        associated_data=event_id.encode(),
    )
    data = DeliverOtp(
        user_id="u1",
        channel=channel,
        purpose="login",
        expires_at=expires_at,
        sealed=box,  # type: ignore[arg-type]
    )
    return Envelope.wrap(data, source="identity", subject="challenge-1", event_id=event_id)


@pytest.fixture
async def delivery(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[tuple[OtpDelivery, FlakySms, Mail]]:
    settings = NotificationsSettings(
        mongodb_database=f"notifications_test_{uuid.uuid4().hex[:8]}", delivery_backoff_seconds=0.01
    )
    runtime = create_runtime(settings, outbox_collections=["deliveries"])
    sms, mail = FlakySms(), Mail()
    yield (
        OtpDelivery(runtime, settings, {"otp-1": PRIVATE.private_bytes_raw()}, sms, mail),
        sms,
        mail,
    )
    await runtime.mongo.close()


async def handle(delivery: OtpDelivery, envelope: Envelope) -> None:
    data = DeliverOtp.model_validate(envelope.data)
    async with delivery.runtime.mongo.start_session() as session:
        await delivery.handle(data, envelope, session)


async def log_of(delivery: OtpDelivery) -> list[dict[str, Any]]:
    return await delivery.deliveries.find({}, {"_id": 0, "at": 0}).to_list()


async def test_a_code_is_sent_once_and_the_log_holds_neither_code_nor_destination(
    delivery: tuple[OtpDelivery, FlakySms, Mail],
) -> None:
    service, sms, _ = delivery
    envelope = command()
    await handle(service, envelope)
    assert sms.sent == [
        ("+79990001122", "Код для входа в ЭМК: 482913. Никому не сообщайте его, даже сотрудникам.")
    ]
    [entry] = await log_of(service)
    assert entry["outcome"] == "sent"
    assert entry["subject"] == "u1"
    assert "482913" not in str(entry)
    assert "+79990001122" not in str(entry)
    assert [e["type"] for e in entry["_outbox"]] == ["emk.notifications.NotificationSent.v1"]


async def test_an_expired_code_is_dropped_unsent(
    delivery: tuple[OtpDelivery, FlakySms, Mail],
) -> None:
    service, sms, _ = delivery
    await handle(service, command(expires_in=timedelta(seconds=-1)))
    assert sms.sent == []
    [entry] = await log_of(service)
    assert entry["outcome"] == "expired"


async def test_a_failed_attempt_is_retried(delivery: tuple[OtpDelivery, FlakySms, Mail]) -> None:
    service, sms, _ = delivery
    sms.failures = 2
    await handle(service, command())
    assert len(sms.sent) == 1
    [entry] = await log_of(service)
    assert (entry["outcome"], entry["attempts"]) == ("sent", 3)


async def test_a_delivery_that_keeps_failing_is_reported(
    delivery: tuple[OtpDelivery, FlakySms, Mail],
) -> None:
    service, sms, _ = delivery
    sms.failures = 99
    await handle(service, command())
    assert sms.sent == []
    [entry] = await log_of(service)
    assert (entry["outcome"], entry["attempts"], entry["error"]) == ("failed", 3, "ConnectionError")
    [event] = entry["_outbox"]
    assert event["type"] == "emk.notifications.NotificationFailed.v1"
    assert json.loads(event["body"])["data"]["error_code"] == "ConnectionError"


async def test_email_codes_go_by_mail(delivery: tuple[OtpDelivery, FlakySms, Mail]) -> None:
    service, _, mail = delivery
    await handle(service, command(channel="email"))
    assert mail.sent == [
        (
            "anna@example.ru",
            "Код для входа — ЭМК",
            "Код для входа в ЭМК: 482913. Никому не сообщайте его, даже сотрудникам.",
        )
    ]


async def test_a_box_moved_to_another_event_does_not_open(
    delivery: tuple[OtpDelivery, FlakySms, Mail],
) -> None:
    service, sms, _ = delivery
    original = command()
    moved = original.model_copy(update={"id": str(uuid.uuid4())})
    with pytest.raises(DecryptionError):
        await handle(service, moved)
    assert sms.sent == []
