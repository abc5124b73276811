"""The documents' MongoDB: ``documents`` (the aggregate, with its pending events) and
``access_log`` (who read or decided what, when and why). Only this module knows the shape
of a stored document. A change and its events are one write, conditional on the state the
change was decided on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from documents.domain.document import Document, HistoryEntry
from documents.ports import Access, Listing
from emk_common.audit import AccessLog
from emk_common.clock import Clock
from emk_common.events import Envelope, EventData
from emk_common.mongo import update_and_read
from emk_common.service import Runtime

Doc = dict[str, Any]


class DocumentStore:
    """:class:`documents.ports.Store` on MongoDB."""

    def __init__(self, runtime: Runtime, clock: Clock) -> None:
        self.outbox = runtime.outbox
        self.documents = runtime.collection("documents")
        self.access_log = AccessLog(runtime.collection("access_log"), "document", clock)

    async def ensure_indexes(self) -> None:
        await self.documents.create_index(
            [("owner_id", ASCENDING), ("created_at", DESCENDING)], name="by_owner"
        )
        await self.documents.create_index(
            [("status", ASCENDING), ("created_at", ASCENDING)], name="queue"
        )
        await self.access_log.ensure_indexes()

    async def get(self, document_id: str) -> Document | None:
        found = await self.documents.find_one({"_id": document_id})
        return None if found is None else _document(found)

    async def insert(self, document: Document, events: Iterable[EventData]) -> None:
        staged = self.outbox.insert(_doc(document), _wrap(document, events, document.created_at))
        await self.documents.insert_one(staged)

    async def apply(
        self, before: Document, after: Document, events: Iterable[EventData]
    ) -> Document | None:
        """Conditional on the status the decision was taken on (a document is decided once)."""
        at = after.decided_at or after.created_at
        # A decision adds one entry to the history.
        update = self.outbox.update(
            before.id,
            {
                "$set": {
                    "status": after.status,
                    "decided_at": after.decided_at,
                    "decided_by": after.decided_by,
                    "reason": after.reason,
                },
                "$push": {"history": _entry(after.history[-1])},
            },
            _wrap(after, events, at),
        )
        stored = await update_and_read(
            self.documents, {"_id": before.id, "status": before.status}, update
        )
        return None if stored is None else _document(stored)

    async def page(
        self, listing: Listing, *, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        query: Doc = {}
        if listing.owner_id is not None:
            query["owner_id"] = listing.owner_id
        if listing.status:
            query["status"] = listing.status
        if listing.created_before is not None:
            query["created_at"] = {"$lt": listing.created_before}
        elif listing.created_since is not None:
            query["created_at"] = {"$gte": listing.created_since}
        cursor = self.documents.find(query).sort("created_at", 1 if listing.oldest_first else -1)
        found = await cursor.skip(offset).limit(limit).to_list()
        return [_document(d) for d in found], await self.documents.count_documents(query)

    async def log_many(self, documents: Sequence[Document], access: Access) -> None:
        await self.access_log.record_many(
            ((d.id, d.owner_id) for d in documents),
            actor_id=access.actor_id,
            actor_role=access.actor_role,
            action=access.action,
            reason=access.reason,
        )

    async def log(self, document: Document, access: Access) -> None:
        await self.access_log.record(
            document.id,
            document.owner_id,
            actor_id=access.actor_id,
            actor_role=access.actor_role,
            action=access.action,
            reason=access.reason,
        )


def _wrap(document: Document, events: Iterable[EventData], at: datetime) -> list[Envelope]:
    # The event happened when the change did: its time is the service clock's, too.
    return [Envelope.wrap(e, source="documents", subject=document.id, at=at) for e in events]


def _entry(entry: HistoryEntry) -> Doc:
    return {"status": entry.status, "at": entry.at, "by": entry.by, "comment": entry.comment}


def _doc(document: Document) -> Doc:
    doc: Doc = {
        "_id": document.id,
        "owner_id": document.owner_id,
        "kind": document.kind,
        "status": document.status,
        "size": document.size,
        "content_type": document.content_type,
        "sha256": document.sha256,
        "filename": document.filename,
        "pages": document.pages,
        "width": document.width,
        "height": document.height,
        "wrapped_key": document.data_key,
        "created_at": document.created_at,
        "history": [_entry(e) for e in document.history],
    }
    if document.decided_at is not None:
        doc.update(
            decided_at=document.decided_at, decided_by=document.decided_by, reason=document.reason
        )
    return doc


def _document(doc: Doc) -> Document:
    return Document(
        id=doc["_id"],
        owner_id=doc["owner_id"],
        kind=doc["kind"],
        status=doc["status"],
        size=doc["size"],
        content_type=doc["content_type"],
        sha256=doc["sha256"],
        filename=doc["filename"],
        pages=doc.get("pages"),
        width=doc.get("width"),
        height=doc.get("height"),
        data_key=doc["wrapped_key"],
        created_at=doc["created_at"],
        history=tuple(
            HistoryEntry(h["status"], h["at"], h["by"], h.get("comment")) for h in doc["history"]
        ),
        decided_at=doc.get("decided_at"),
        decided_by=doc.get("decided_by"),
        reason=doc.get("reason"),
    )
