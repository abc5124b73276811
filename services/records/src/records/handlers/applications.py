"""``ApplicationApproved`` → the applicant's book is issued (or the position is added to
the book they have). Peers (identity, applications) that are down or slow are waited
for — ``RetryLater`` — and never send the approval to the dead-letter topic."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer
from records.service import Records


def subscribe(consumer: EventConsumer, records: Records) -> None:
    @consumer.on(catalog.ApplicationApproved, name="records.issue_book")
    async def issue_book(
        event: catalog.ApplicationApproved, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        # Exactly once by the book's own unique indexes and its positions (keyed by the
        # application), not by the inbox transaction: a redelivery finds the book and the
        # position in it, and changes nothing.
        await records.issue(event)
