"""``workers``: what the service keeps of medical workers — whether identity closed their
account, and the books their lookups opened (so the grants end with the worker)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection

from emk_common.outbox import OUTBOX_FIELD
from records.domain.book import Book
from records.store.codec import Codec, Doc


class Workers:
    workers: AsyncCollection[Doc]
    books: AsyncCollection[Doc]
    codec: Codec

    async def opened_by(self, worker_id: str, book_id: str) -> None:
        """Remember that a worker's lookup opened this book (for ending it with the worker)."""
        await self.workers.update_one(
            {"_id": worker_id}, {"$addToSet": {"opened": book_id}}, upsert=True
        )

    async def granted_by(self, worker_id: str) -> list[Book]:
        """The books a worker's lookups opened (read without their records)."""
        worker = await self.workers.find_one({"_id": worker_id}, {"opened": 1})
        opened = (worker or {}).get("opened", [])
        if not opened:
            return []
        found = self.books.find({"_id": {"$in": opened}}, {OUTBOX_FIELD: 0, "shown": 0})
        return [self.codec.book(d) for d in await found.to_list()]

    async def deactivate_worker(self, worker_id: str, at: datetime) -> None:
        # $min: the first deactivation's time stays, and a missing field is set.
        await self.workers.update_one(
            {"_id": worker_id}, {"$min": {"deactivated_at": at}}, upsert=True
        )

    async def is_deactivated(self, worker_id: str) -> bool:
        found = await self.workers.find_one({"_id": worker_id}, {"deactivated_at": 1})
        return found is not None and found.get("deactivated_at") is not None
