"""``audit_anchors``: every service's audit journal anchors (``emk_common.journal``), kept
forever — sequence numbers and hashes, nothing personal. One document an anchor, its id
``<service>:<seq>``; ``emk-audit verify`` reads them by service."""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from emk_common import catalog

COLLECTION = "audit_anchors"
log = logging.getLogger(__name__)


class AuditAnchors:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("service", ASCENDING), ("seq", ASCENDING)], name="by_service"
        )

    async def keep(
        self, anchor: catalog.AuditAnchored, event_id: str, session: AsyncClientSession
    ) -> None:
        """Insert once: a copy under another event id changes nothing — the first anchor of
        a sequence number is the one kept. Another hash for a sequence number already kept
        is a rewritten chain (or a forged anchor): logged as an error, for the on-call."""
        kept = await self.collection.find_one(
            {"_id": f"{anchor.service}:{anchor.seq}"}, {"hash": 1}, session=session
        )
        if kept is not None:
            if kept["hash"] != anchor.hash:
                log.error(
                    "audit anchor %s:%d arrived with another hash than the one kept: the "
                    "journal of %s was rewritten, or the anchor forged",
                    anchor.service, anchor.seq, anchor.service,
                )  # fmt: skip
            return
        await self.collection.update_one(
            {"_id": f"{anchor.service}:{anchor.seq}"},
            {
                "$setOnInsert": {
                    "service": anchor.service,
                    "seq": anchor.seq,
                    "hash": anchor.hash,
                    "at": anchor.at,
                    "event_id": event_id,
                }
            },
            upsert=True,
            session=session,
        )
