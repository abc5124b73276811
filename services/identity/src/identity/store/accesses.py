"""``data_accesses``: every service's accesses to a person's data (``emk.access``), kept for
that person's "who saw my data" — ids, roles and codes only, one document an access, its id
the service's entry id (``<service>:<seq>``), so a copy delivered again is the same document.
(Identity's own ``access_log`` is its audit journal; this is another collection.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from emk_common import catalog

COLLECTION = "data_accesses"


@dataclass(frozen=True)
class Access:
    """One access, as identity keeps it."""

    id: str
    service: str
    owner_id: str
    actor_id: str | None
    actor_role: str
    organization_id: str | None
    resource: str
    subject_id: str | None
    action: str
    at: datetime
    has_reason: bool


@dataclass(frozen=True)
class Position:
    """Where a page ends: the last access shown (newest first: ``at``, then ``id``)."""

    at: datetime
    id: str


class DataAccesses:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("owner_id", 1), ("at", DESCENDING), ("_id", DESCENDING)], name="by_owner"
        )

    async def keep(
        self, access: Access, event_id: str, session: AsyncClientSession | None = None
    ) -> None:
        """Insert once: another copy of the same entry changes nothing."""
        document = {k: v for k, v in access.__dict__.items() if k != "id"}
        await self.collection.update_one(
            {"_id": access.id},
            {"$setOnInsert": {**document, "event_id": event_id}},
            upsert=True,
            session=session,
        )

    async def of(self, owner_id: str, *, limit: int, before: Position | None) -> list[Access]:
        """The owner's accesses, newest first, after ``before`` (exclusive)."""
        query: dict[str, Any] = {"owner_id": owner_id}
        if before is not None:
            query["$or"] = [
                {"at": {"$lt": before.at}},
                {"at": before.at, "_id": {"$lt": before.id}},
            ]
        docs = (
            await self.collection.find(query)
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .to_list(limit)
        )
        return [_access(d) for d in docs]


def recorded(event: catalog.AccessRecorded) -> Access:
    return Access(
        id=event.entry_id,
        service=event.service,
        owner_id=event.owner_id,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        organization_id=event.organization_id,
        resource=event.resource,
        subject_id=event.subject_id,
        action=event.action,
        at=event.at,
        has_reason=event.has_reason,
    )


def _access(doc: Mapping[str, Any]) -> Access:
    return Access(
        id=str(doc["_id"]),
        service=doc["service"],
        owner_id=doc["owner_id"],
        actor_id=doc.get("actor_id"),
        actor_role=doc["actor_role"],
        organization_id=doc.get("organization_id"),
        resource=doc["resource"],
        subject_id=doc.get("subject_id"),
        action=doc["action"],
        at=doc["at"],
        has_reason=bool(doc.get("has_reason")),
    )
