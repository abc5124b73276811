"""On ``emk.identity``: ``AccountLocked`` → the person is told sign-in is locked, and until
when; ``RegistrationAttempted`` → the person is told someone registered with their phone,
e-mail or СНИЛС (in-app, SMS and e-mail as they chose)."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer
from notifications.service import Notifications


def subscribe(consumer: EventConsumer, notifications: Notifications) -> None:
    @consumer.on(catalog.AccountLocked, name="notifications.account_locked")
    async def account_locked(
        event: catalog.AccountLocked, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.account_locked(event, envelope.id, session)

    @consumer.on(catalog.RegistrationAttempted, name="notifications.registration_attempted")
    async def registration_attempted(
        event: catalog.RegistrationAttempted, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.registration_attempted(event, envelope.id, session)
