"""``shares``: the codes a holder gives out for the public check. A code is kept encrypted
(its holder sees it again in the list) and found by a blind index of it — the database holds
nothing that finds a book without the code. A check is counted and logged (its time, the latest
100 kept) on the share in one write — and, on the first check of a Moscow day, stages the
event that tells the holder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from emk_common.clock import Clock
from emk_common.events import Envelope, EventData
from emk_common.outbox import Outbox
from records.domain.shares import RECENT_CHECKS, Share
from records.store.codec import Codec, Doc


class Shares:
    shares: AsyncCollection[Doc]
    codec: Codec
    outbox: Outbox
    _clock: Clock  # the events' time

    async def ensure_share_indexes(self) -> None:
        await self.shares.create_index("code", unique=True, name="by_code")
        await self.shares.create_index("holder_id", name="by_holder")
        await self.shares.create_index(
            [("employer_inn", ASCENDING), ("expires_at", ASCENDING)],
            name="by_employer",
            partialFilterExpression={"employer_inn": {"$type": "string"}},
        )

    async def add_share(self, share: Share, events: Iterable[EventData]) -> None:
        document: Doc = {
            "_id": share.id,
            "code": self.codec.share_code_index(share.code),
            "sealed_code": self.codec.seal_share_code(share.id, share.code),
            "book_id": share.book_id,
            "holder_id": share.holder_id,
            "employer_inn": share.employer_inn,
            "created_at": share.created_at,
            "expires_at": share.expires_at,
            "revoked_at": None,
            "checks": 0,
            "last_checked_at": None,
            "recent_checks": [],
            "told_on": None,
        }
        await self.shares.insert_one(self.outbox.insert(document, self._wrap_share(share, events)))

    async def share_by_code(self, code: str) -> Share | None:
        found = await self.shares.find_one({"code": self.codec.share_code_index(code)})
        return self._share(found) if found else None

    async def shares_of(self, holder_id: str) -> list[Share]:
        found = self.shares.find({"holder_id": holder_id}).sort("created_at", -1)
        return [self._share(doc) async for doc in found]

    async def shared_with(self, employer_inn: str, now: datetime) -> list[Share]:
        """The live shares naming this employer."""
        found = self.shares.find(
            {"employer_inn": employer_inn, "expires_at": {"$gt": now}, "revoked_at": None}
        )
        return [self._share(doc) async for doc in found]

    async def revoke_share(self, share: Share, events: Iterable[EventData]) -> bool:
        """Revokes a live share; False if it was revoked already."""
        update = {"$set": {"revoked_at": share.revoked_at}}
        staged = self.outbox.update(share.id, update, self._wrap_share(share, events))
        written = await self.shares.update_one({"_id": share.id, "revoked_at": None}, staged)
        return written.modified_count == 1

    async def count_check(
        self, share: Share, now: datetime, today: date, events: Iterable[EventData]
    ) -> None:
        """One more check of ``share``: counted, its time kept; ``events`` (the holder told)
        are staged only by the first check of ``today``."""
        logged = {"recent_checks": {"$each": [now], "$slice": -RECENT_CHECKS}}
        counted: dict[str, Any] = {
            "$inc": {"checks": 1}, "$set": {"last_checked_at": now}, "$push": logged,
        }  # fmt: skip
        day = today.isoformat()
        told_today = await self.shares.update_one({"_id": share.id, "told_on": day}, counted)
        if told_today.matched_count:
            return
        first: dict[str, Any] = {
            "$inc": {"checks": 1}, "$set": {"last_checked_at": now, "told_on": day},
            "$push": logged,
        }  # fmt: skip
        staged = self.outbox.update(share.id, first, self._wrap_share(share, events))
        first_today = await self.shares.update_one(
            {"_id": share.id, "told_on": {"$ne": day}}, staged
        )
        if not first_today.matched_count:  # another check of this day came first
            await self.shares.update_one({"_id": share.id}, counted)

    def _wrap_share(self, share: Share, events: Iterable[EventData]) -> list[Envelope]:
        # Keyed by the book: on the topic, a share's events stay in order with the book's.
        at = self._clock()
        return [Envelope.wrap(e, source="records", subject=share.book_id, at=at) for e in events]

    def _share(self, doc: Doc) -> Share:
        told = doc.get("told_on")
        return Share(
            id=doc["_id"],
            book_id=doc["book_id"],
            holder_id=doc["holder_id"],
            code=self.codec.open_share_code(doc["_id"], doc["sealed_code"]),
            created_at=doc["created_at"],
            expires_at=doc["expires_at"],
            employer_inn=doc.get("employer_inn"),
            revoked_at=doc.get("revoked_at"),
            checks=int(doc.get("checks", 0)),
            last_checked_at=doc.get("last_checked_at"),
            recent_checks=tuple(doc.get("recent_checks") or ()),
            told_on=date.fromisoformat(told) if told else None,
        )
