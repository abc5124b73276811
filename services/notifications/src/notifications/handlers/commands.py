"""``DeliverOtp`` (on ``emk.notifications.commands``) → one pending one-time-code delivery,
its box still sealed; the dispatcher opens it only to send."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer
from notifications.service import Notifications


def subscribe(consumer: EventConsumer, notifications: Notifications) -> None:
    @consumer.on(catalog.DeliverOtp, name="notifications.deliver_otp")
    async def deliver_otp(
        command: catalog.DeliverOtp, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.stage_one_time_code(command, envelope.id, session)
