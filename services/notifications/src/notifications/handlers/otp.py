"""Delivering sealed one-time codes (``DeliverOtp`` on ``emk.notifications.commands``).

The code is opened only here, only in memory, and only to be sent: it is never stored,
logged or put in an event. An expired code is dropped unsent. Each attempt is recorded
(channel, outcome — no destination, no code); after the last failed attempt the failure is
reported as ``NotificationFailed``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.catalog import DeliverOtp, NotificationFailed, NotificationSent
from emk_common.crypto import open_sealed
from emk_common.events import Envelope, EventData
from emk_common.service import Runtime
from notifications.adapters.channels import EmailSender, SmsSender
from notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)

TEXTS = {
    "contact_verification": "Код подтверждения ЭМК: {code}. Никому не сообщайте его.",
    "login": "Код для входа в ЭМК: {code}. Никому не сообщайте его, даже сотрудникам.",
}
SUBJECTS = {
    "contact_verification": "Подтверждение адреса электронной почты — ЭМК",
    "login": "Код для входа — ЭМК",
}


class OtpDelivery:
    def __init__(
        self,
        runtime: Runtime,
        settings: NotificationsSettings,
        private_keys: dict[str, bytes],
        sms: SmsSender,
        email: EmailSender,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.private_keys = private_keys
        self.sms = sms
        self.email = email
        self.deliveries = runtime.collection("deliveries")

    async def handle(
        self, command: DeliverOtp, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        now = datetime.now(UTC)
        if command.expires_at <= now:
            log.info(
                "one-time code expired before delivery; dropped", extra={"event_id": envelope.id}
            )
            await self._record(envelope, command, "expired", 0, session)
            return
        opened: dict[str, Any] = json.loads(
            open_sealed(
                command.sealed, private_keys=self.private_keys, associated_data=envelope.id.encode()
            )
        )
        text = TEXTS[command.purpose].format(code=opened["code"])
        attempts = 0
        while True:
            attempts += 1
            try:
                if command.channel == "sms":
                    await self.sms.send(opened["destination"], text)
                else:
                    await self.email.send(opened["destination"], SUBJECTS[command.purpose], text)
            except Exception as exc:
                log.warning(
                    "delivery attempt %d over %s failed: %s",
                    attempts,
                    command.channel,
                    type(exc).__name__,
                )
                if attempts >= self.settings.delivery_max_attempts:
                    await self._record(
                        envelope, command, "failed", attempts, session, error=type(exc).__name__
                    )
                    return
                await asyncio.sleep(self.settings.delivery_backoff_seconds * attempts)
                continue
            await self._record(envelope, command, "sent", attempts, session)
            return

    async def _record(
        self,
        envelope: Envelope,
        command: DeliverOtp,
        outcome: str,
        attempts: int,
        session: AsyncClientSession,
        error: str | None = None,
    ) -> None:
        delivery_id = uuid.uuid4().hex
        recipient = command.user_id
        events: list[EventData] = []
        if outcome == "sent":
            events.append(
                NotificationSent(
                    notification_id=delivery_id,
                    user_id=recipient,
                    channel=command.channel,
                    trigger_event_id=envelope.id,
                )
            )
        elif outcome == "failed":
            events.append(
                NotificationFailed(
                    notification_id=delivery_id,
                    user_id=recipient,
                    channel=command.channel,
                    trigger_event_id=envelope.id,
                    attempts=attempts,
                    error_code=error or "unknown",
                )
            )
        document = {
            "_id": delivery_id,
            "kind": "one_time_code",
            "purpose": command.purpose,
            "channel": command.channel,
            "subject": recipient,
            "trigger_event_id": envelope.id,
            "outcome": outcome,
            "attempts": attempts,
            "error": error,
            "at": datetime.now(UTC),
        }
        wrapped = [Envelope.wrap(e, source="notifications", subject=delivery_id) for e in events]
        await self.deliveries.insert_one(
            self.runtime.outbox.insert(document, wrapped), session=session
        )
        self.runtime.outbox.committed()
