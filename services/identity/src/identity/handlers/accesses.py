"""On ``emk.access``: ``AccessRecorded`` → the access is kept for its owner's "who saw my data"
(``store.accesses``). A copy delivered again is skipped by the inbox, and one published again (a
new envelope of the same entry) lands on the same document."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer
from identity.store.accesses import DataAccesses, recorded

HANDLER = "identity.data_accesses"  # the inbox key: never rename


def subscribe(consumer: EventConsumer, accesses: DataAccesses) -> None:
    @consumer.on(catalog.AccessRecorded, name=HANDLER)
    async def access_recorded(
        event: catalog.AccessRecorded, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await accesses.keep(recorded(event), envelope.id, session)
