"""The idempotent inbox: a handler's effect and the record of (handler, event id) commit
together, so a redelivered event is recognised and skipped.

The effect runs inside a MongoDB transaction that first inserts the inbox key: a second
delivery, even a concurrent one, collides on that key and its effect is rolled back.
Inbox records are kept (they are small) so that replaying a topic from the earliest
offset applies nothing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Effect = Callable[[AsyncClientSession], Awaitable[None]]


class Inbox:
    def __init__(
        self, client: AsyncMongoClient[dict[str, Any]], collection: AsyncCollection[dict[str, Any]]
    ) -> None:
        self._client = client
        self._collection = collection

    async def apply_once(self, handler: str, event_id: str, effect: Effect) -> bool:
        """Run ``effect`` unless this handler already applied this event; True if it ran."""
        record = {
            "_id": _key(handler, event_id),
            "handler": handler,
            "event_id": event_id,
            "at": datetime.now(UTC),
        }

        async def transaction(session: AsyncClientSession) -> None:
            try:
                await self._collection.insert_one(record, session=session)
            except DuplicateKeyError:
                raise _AlreadyAppliedError from None
            await effect(session)

        async with self._client.start_session() as session:
            try:
                await session.with_transaction(transaction)
            except _AlreadyAppliedError:
                return False
        return True


class _AlreadyAppliedError(Exception):
    """The inbox key exists: this handler applied this event before (the transaction aborts)."""


def _key(handler: str, event_id: str) -> str:
    return f"{handler}:{event_id}"
