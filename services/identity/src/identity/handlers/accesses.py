"""On ``emk.access``: ``AccessRecorded`` → the access is kept for its owner's "who saw my data"
(``store.accesses``). A copy delivered again is skipped by the inbox, and one published again (a
new envelope of the same entry) lands on the same document. An access a service reports of
another service's journal (its ``service``, its ``entry_id`` and the envelope's ``source``
disagree) is refused: no service speaks for another's."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import DeadLetter, EventConsumer
from identity.store.accesses import DataAccesses, recorded

HANDLER = "identity.data_accesses"  # the inbox key: never rename


def subscribe(consumer: EventConsumer, accesses: DataAccesses) -> None:
    @consumer.on(catalog.AccessRecorded, name=HANDLER)
    async def access_recorded(
        event: catalog.AccessRecorded, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        own = envelope.source == event.service
        if not (own and event.entry_id.startswith(f"{event.service}:")):
            raise DeadLetter("an access reported for another service's journal")
        await accesses.keep(recorded(event), envelope.id, session)
