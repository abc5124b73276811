"""What identity tells the records service: a person's data changed (the book's holder is
read again), a staff account was closed (a medical worker's keys and grants end)."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer
from records.service import Records


def subscribe(consumer: EventConsumer, records: Records) -> None:
    @consumer.on(catalog.PersonalDataChanged, name="records.refresh_holder")
    async def refresh_holder(
        event: catalog.PersonalDataChanged, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await records.refresh_holder(event.user_id)

    @consumer.on(catalog.StaffDeactivated, name="records.staff_deactivated")
    async def staff_deactivated(
        event: catalog.StaffDeactivated, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        if event.role == "medical_worker":
            await records.worker_deactivated(event.user_id, envelope.time)
