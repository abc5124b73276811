"""What applications learns from the documents service: each document's review status,
so an application is approved only when every attached document is verified."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pymongo.asynchronous.client_session import AsyncClientSession

from applications.service import Applications
from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer

DocumentEvent = (
    catalog.DocumentUploaded
    | catalog.DocumentVerified
    | catalog.DocumentRejected
    | catalog.DocumentRejectedV2
)

# event → (the status it means, the inbox name of its handler). Both versions of a rejection
# mean the same here (v1 may still be in the log; the reason was never read).
_STATUSES: dict[type[DocumentEvent], tuple[str, str]] = {
    catalog.DocumentUploaded: ("pending_review", "applications.document_uploaded"),
    catalog.DocumentVerified: ("verified", "applications.document_verified"),
    catalog.DocumentRejected: ("rejected", "applications.document_rejected"),
    catalog.DocumentRejectedV2: ("rejected", "applications.document_rejected.v2"),
}


def subscribe(consumer: EventConsumer, applications: Applications) -> None:
    for event_type, (status, name) in _STATUSES.items():
        consumer.on(event_type, name=name)(_recorder(applications, status))


def _recorder(
    applications: Applications, status: str
) -> Callable[[DocumentEvent, Envelope, AsyncClientSession], Awaitable[None]]:
    async def record(event: DocumentEvent, envelope: Envelope, session: AsyncClientSession) -> None:
        await applications.document_reviewed(
            event.document_id, event.owner_id, status, envelope.time, session
        )

    return record
