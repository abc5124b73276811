"""What applications learns from the records service: the book was issued on an approved
application (or, for a person who has a book, this position was added to it), so the
application moves to ``issued`` «Готово к выдаче» with the book's number."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from applications.service import Applications
from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer


def subscribe(consumer: EventConsumer, applications: Applications) -> None:
    async def issued(
        event: catalog.MedicalBookIssued | catalog.PositionAdded,
        envelope: Envelope,
        session: AsyncClientSession,
    ) -> None:
        # One conditional write of the application with its outbox events; a redelivery
        # finds it issued already, so it needs no part in the inbox transaction.
        await applications.issue(event.application_id, event.book_id, event.number)

    consumer.on(catalog.MedicalBookIssued, name="applications.book_issued")(issued)
    consumer.on(catalog.PositionAdded, name="applications.position_added")(issued)
