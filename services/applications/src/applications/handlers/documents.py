"""What applications learns from the documents service: each document's review status,
so an application is approved only when every attached document is verified."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from applications.store import ApplicationStore
from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer


def subscribe(consumer: EventConsumer, store: ApplicationStore) -> None:
    @consumer.on(catalog.DocumentUploaded, name="applications.document_uploaded")
    async def uploaded(
        event: catalog.DocumentUploaded, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await store.record_document(
            event.document_id, event.owner_id, "pending_review", envelope.time, session
        )

    @consumer.on(catalog.DocumentVerified, name="applications.document_verified")
    async def verified(
        event: catalog.DocumentVerified, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await store.record_document(
            event.document_id, event.owner_id, "verified", envelope.time, session
        )

    @consumer.on(catalog.DocumentRejected, name="applications.document_rejected")
    async def rejected(
        event: catalog.DocumentRejected, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await store.record_document(
            event.document_id, event.owner_id, "rejected", envelope.time, session
        )
