"""On ``emk.audit``: ``AuditAnchored`` → the anchor is kept forever (``store.anchors``), so a
service's audit journal rewritten in its own database no longer matches (``emk-audit verify``).
A redelivered anchor is skipped by the inbox."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer
from identity.store.anchors import AuditAnchors

HANDLER = "identity.audit_anchors"  # the inbox key: never rename


def subscribe(consumer: EventConsumer, anchors: AuditAnchors) -> None:
    @consumer.on(catalog.AuditAnchored, name=HANDLER)
    async def anchored(
        event: catalog.AuditAnchored, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await anchors.keep(event, envelope.id, session)
