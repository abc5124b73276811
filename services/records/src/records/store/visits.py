"""``visit_codes``: the single-use codes a holder shows a medical worker — each kept under
a blind index of the code, never the code itself — expiring by themselves (a TTL index)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection

from emk_common.mongo import update_and_read
from records.store.codec import Codec, Doc


class VisitCodes:
    visit_codes: AsyncCollection[Doc]
    codec: Codec

    async def add_visit_code(
        self, code: str, book_id: str, now: datetime, expires_at: datetime
    ) -> None:
        await self.visit_codes.insert_one(
            {
                "_id": self.codec.visit_code_index(code),
                "book_id": book_id,
                "created_at": now,
                "expires_at": expires_at,
                "used_at": None,
            }
        )

    async def use_visit_code(self, code: str, now: datetime) -> str | None:
        """The book a live, unused code opens — and the code is spent (single use)."""
        used = await update_and_read(
            self.visit_codes,
            {"_id": self.codec.visit_code_index(code), "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        return str(used["book_id"]) if used else None
