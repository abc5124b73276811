"""The idempotent inbox: a handler's effect and the record of (handler, event id) commit
together, so a redelivered event is recognised and skipped.

The effect runs inside a MongoDB transaction that first inserts the inbox key: a second
delivery, even a concurrent one, collides on that key and its effect is rolled back.
Inbox records are kept (they are small) so that replaying a topic from the earliest
offset applies nothing twice.

A consumer applies what one fetch returns as a batch (:meth:`Inbox.apply_batch`): the
inbox marks and effects of every event in one transaction, which costs a commit per batch
rather than per event. If any effect fails the whole batch is rolled back, and the consumer
applies its events one by one (:meth:`Inbox.apply_once`) to isolate the failing one.

A handler that must nudge something once its effect is durable (wake a dispatcher that
will read what it wrote, wake the outbox relay) calls :func:`after_commit` instead of
doing it inline: inside the transaction the write is not visible yet, and a retried
transaction would nudge twice. In a batch the nudges wait for the batch's commit.

A handler whose effect is new documents writes them with :func:`insert_effect`: in a batch they
are gathered and written with one ``insert_many`` per collection at the end of the batch's
transaction, so a batch of a hundred events costs a few round trips to MongoDB rather than a
hundred (one by one they are written at once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common.clock import Clock, utc_now
from emk_common.metrics import INBOX_DUPLICATES

Effect = Callable[[AsyncClientSession], Awaitable[None]]

_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "inbox_after_commit", default=None
)


# In a batch's transaction: the documents effects asked to insert, per collection, in order.
_Deferred = dict[tuple[str, str], tuple[AsyncCollection[dict[str, Any]], list[dict[str, Any]]]]
_deferred_inserts: ContextVar[_Deferred | None] = ContextVar("inbox_deferred", default=None)


async def insert_effect(
    collection: AsyncCollection[dict[str, Any]],
    documents: Sequence[dict[str, Any]],
    session: AsyncClientSession,
) -> None:
    """Insert ``documents`` as (part of) a handler's effect, in its transaction.

    In a batch the insert is deferred to the end of the batch's transaction and made with the
    other effects' documents for the same collection, in one ``insert_many``; it commits or
    rolls back with the batch all the same. Neither the handler nor a later effect of the same
    batch may therefore read or update them (it would not find them): for documents nothing
    else touches before the batch commits — a delivery staged, a notification kept. A
    duplicate key fails the batch (which is then applied one by one, where the insert is made
    at once and the handler sees its own error)."""
    if not documents:
        return
    deferred = _deferred_inserts.get()
    if deferred is None:
        if len(documents) == 1:
            await collection.insert_one(documents[0], session=session)
        else:
            await collection.insert_many(documents, session=session)
        return
    key = (collection.database.name, collection.name)
    deferred.setdefault(key, (collection, []))[1].extend(documents)


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the handler's transaction has committed (at once outside one)."""
    pending = _after_commit.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


@dataclass(frozen=True)
class InboxItem:
    """One handler's effect of one event, for :meth:`Inbox.apply_batch`."""

    handler: str
    event_id: str
    effect: Effect


class Inbox:
    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        collection: AsyncCollection[dict[str, Any]],
        clock: Clock = utc_now,
    ) -> None:
        self._client = client
        self._collection = collection
        self._clock = clock

    async def apply_once(self, handler: str, event_id: str, effect: Effect) -> bool:
        """Run ``effect`` unless this handler already applied this event; True if it ran."""
        record = {
            "_id": _key(handler, event_id),
            "handler": handler,
            "event_id": event_id,
            "at": self._clock(),
        }

        callbacks: list[Callable[[], None]] = []

        async def transaction(session: AsyncClientSession) -> None:
            callbacks.clear()  # a retried transaction starts over
            try:
                await self._collection.insert_one(record, session=session)
            except DuplicateKeyError:
                raise _AlreadyAppliedError from None
            await effect(session)

        token = _after_commit.set(callbacks)
        try:
            async with self._client.start_session() as session:
                try:
                    await session.with_transaction(transaction)
                except _AlreadyAppliedError:
                    INBOX_DUPLICATES.add(1)
                    return False
        finally:
            _after_commit.reset(token)
        for callback in callbacks:
            callback()
        return True

    async def apply_batch(self, items: Sequence[InboxItem]) -> list[bool]:
        """Run the effects of ``items``, in order, in one transaction with their inbox marks;
        for each item, True if its effect ran, False if it was skipped: this handler applied
        this event before, or an earlier item of ``items`` is a copy of it.

        An effect that raises aborts the transaction: nothing of the batch is applied, none of
        its :func:`after_commit` callbacks runs, and the exception propagates (the caller then
        applies the items one by one). The callbacks of a committed batch run after its commit,
        in order.
        """
        keys = [_key(item.handler, item.event_id) for item in items]
        at = self._clock()
        callbacks: list[Callable[[], None]] = []
        ran: list[bool] = []
        deferred: _Deferred = {}

        async def transaction(session: AsyncClientSession) -> None:
            callbacks.clear()  # a retried transaction starts over
            ran.clear()
            deferred.clear()
            # Read first: inserting a mark that exists would abort the whole transaction.
            cursor = self._collection.find(
                {"_id": {"$in": sorted(set(keys))}}, {"_id": 1}, session=session
            )
            seen = {doc["_id"] async for doc in cursor}
            marks = []
            for key, item in zip(keys, items, strict=True):
                ran.append(key not in seen)
                if key not in seen:
                    seen.add(key)
                    marks.append(
                        {"_id": key, "handler": item.handler, "event_id": item.event_id, "at": at}
                    )
            if marks:
                # A mark a concurrent consumer committed meanwhile fails this insert, and the
                # batch with it: one by one, that event is then recognised and skipped.
                await self._collection.insert_many(marks, session=session)
            for item, fresh in zip(items, ran, strict=True):
                if fresh:
                    await item.effect(session)
            for collection, documents in deferred.values():
                await collection.insert_many(documents, session=session)

        token = _after_commit.set(callbacks)
        gathering = _deferred_inserts.set(deferred)
        try:
            async with self._client.start_session() as session:
                await session.with_transaction(transaction)
        finally:
            _deferred_inserts.reset(gathering)
            _after_commit.reset(token)
        if skipped := len(ran) - sum(ran):
            INBOX_DUPLICATES.add(skipped)
        for callback in callbacks:
            callback()
        return list(ran)


class _AlreadyAppliedError(Exception):
    """The inbox key exists: this handler applied this event before (the transaction aborts)."""


def _key(handler: str, event_id: str) -> str:
    return f"{handler}:{event_id}"
