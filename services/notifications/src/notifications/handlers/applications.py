"""``ApplicationStatusChanged`` (on ``emk.applications``) → the applicant is told: in-app at
once, SMS and e-mail staged for the dispatcher, inside the inbox transaction. v2 carries no
comment, only whether there is one: it is read from applications' internal API (while
applications is away the event waits, ``RetryLater``); v1, still in the log, carries its own."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer
from notifications.service import Notifications


def subscribe(consumer: EventConsumer, notifications: Notifications) -> None:
    @consumer.on(catalog.ApplicationStatusChanged, name="notifications.application_status")
    async def application_status(
        event: catalog.ApplicationStatusChanged, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.status_changed(event, envelope.id, session)

    @consumer.on(catalog.ApplicationStatusChangedV2, name="notifications.application_status.v2")
    async def application_status_v2(
        event: catalog.ApplicationStatusChangedV2, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.status_changed(event, envelope.id, session)
