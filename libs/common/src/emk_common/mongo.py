"""The MongoDB client every service uses (PyMongo's async API)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common.settings import ServiceSettings


def mongo_client(
    settings: ServiceSettings, listeners: Sequence[monitoring.CommandListener] = ()
) -> AsyncMongoClient[dict[str, Any]]:
    """The service's one client, every operation bounded.

    ``timeoutMS`` (pymongo's client-side operation timeout) bounds each operation as a
    whole — waiting for a server, for a pooled connection, the round trip and the driver's
    own retry — where ``socketTimeoutMS`` alone would let a retried read wait twice. So
    with MongoDB away or frozen a request fails in about a second (a 503 with Retry-After,
    :mod:`emk_common.unavailable`), and once MongoDB answers again the same client serves:
    the driver rediscovers the server and reopens its pool, nothing here holds a broken
    connection. Background loops (outbox relay, leases, consumers, schedulers) share the
    bound and retry on their own; startup's index builds get a longer one
    (``mongodb_startup_timeout_seconds``, :func:`emk_common.service.create_app`).
    """
    return AsyncMongoClient(
        settings.mongodb_uri,
        tz_aware=True,
        uuidRepresentation="standard",
        appname=settings.service_name,
        timeoutMS=settings.mongodb_timeout_ms,
        serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
        connectTimeoutMS=settings.mongodb_connect_timeout_ms,
        event_listeners=list(listeners),
    )


async def update_and_read(
    collection: AsyncCollection[dict[str, Any]],
    query: Mapping[str, Any],
    update: Mapping[str, Any],
    *,
    upsert: bool = False,
    projection: Mapping[str, Any] | None = None,
    session: AsyncClientSession | None = None,
) -> dict[str, Any] | None:
    """``find_one_and_update(..., return_document=AFTER)`` as two index-served steps.

    SecantusDB (the local MongoDB) runs ``findAndModify`` as a scan of the whole collection,
    even for an ``_id`` match: 340 ms at 50,000 documents against 1 ms for ``update_one``
    (measured by the applications benchmark). So: a conditional ``update_one`` — which
    decides, atomically, whether this write happens — then a read by ``_id``. The query must
    name the document's ``_id``. The document read back is the one just written, or a later
    version of it; ``None`` when the condition did not hold. An upsert that loses a race
    to insert the same ``_id`` is retried as the update it then is. Where the value read back must
    be exactly this write's (a sequence), keep ``find_one_and_update`` on a small collection.
    """
    if "_id" not in query:
        raise ValueError("update_and_read needs the document's _id in the query")
    for _ in range(3):
        try:
            result = await collection.update_one(query, update, upsert=upsert, session=session)
        except DuplicateKeyError:
            if not upsert or session is not None:
                raise
            continue  # two first writers raced to insert: the loser's retry is an update
        if result.matched_count == 0 and result.upserted_id is None:
            return None
        found = await collection.find_one({"_id": query["_id"]}, projection, session=session)
        if found is not None or not upsert:
            return found
        # Upserted, then removed at once (a TTL monitor): write it again.
    raise RuntimeError(f"{collection.name}: {query['_id']!r} kept changing under an upsert")


async def claim_one(
    collection: AsyncCollection[dict[str, Any]],
    due: Mapping[str, Any],
    *,
    sort: str | None,
    held_until: str,
    now: datetime,
    claim: Mapping[str, Any],
    candidates: int = 32,
) -> dict[str, Any] | None:
    """The first document matching ``due`` (in ``sort`` order) that no live holder has,
    claimed for this caller — or None. How replicas share work items (due timers, pending
    deliveries) without a top-level ``$or`` or a ``findAndModify``, which the local
    MongoDB answers by scanning the whole collection.

    ``held_until`` names the (possibly dotted) field with the current holder's lease end; a
    missing one, or one not after ``now``, is free. ``claim`` is what a claim sets (a new
    lease end in ``held_until`` among it). The candidates come from an index on ``due``;
    the claim is one conditional write, so of two replicas only one takes an item. Without
    ``sort`` the candidates come in the index's order, and no sort is made (the local
    MongoDB sorts in memory, over every match).
    """
    found = collection.find(due, {held_until: 1})
    cursor = (found.sort(sort, 1) if sort else found).limit(candidates)
    async for candidate in cursor:
        until = _dotted(candidate, held_until)
        if until is not None and until > now:
            continue  # someone holds it
        claimed = await update_and_read(
            collection,
            {**due, "_id": candidate["_id"], held_until: {"$not": {"$gt": now}}},
            {"$set": dict(claim)},
        )
        if claimed is not None:
            return claimed
    return None


def _dotted(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
