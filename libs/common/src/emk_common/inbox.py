"""The idempotent inbox: a handler's effect and the record of (handler, event id) commit
together, so a redelivered event is recognised and skipped.

The effect runs inside a MongoDB transaction that first inserts the inbox key: a second
delivery, even a concurrent one, collides on that key and its effect is rolled back.
Inbox records are kept (they are small) so that replaying a topic from the earliest
offset applies nothing twice.

A handler that must nudge something once its effect is durable (wake a dispatcher that
will read what it wrote, wake the outbox relay) calls :func:`after_commit` instead of
doing it inline: inside the transaction the write is not visible yet, and a retried
transaction would nudge twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common.clock import Clock, utc_now

Effect = Callable[[AsyncClientSession], Awaitable[None]]

_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "inbox_after_commit", default=None
)


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the handler's transaction has committed (at once outside one)."""
    pending = _after_commit.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


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
                    return False
        finally:
            _after_commit.reset(token)
        for callback in callbacks:
            callback()
        return True


class _AlreadyAppliedError(Exception):
    """The inbox key exists: this handler applied this event before (the transaction aborts)."""


def _key(handler: str, event_id: str) -> str:
    return f"{handler}:{event_id}"
