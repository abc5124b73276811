"""``shares``: the codes a holder gives out for the public check. A code is kept encrypted
(its holder sees it again in the list) and found by a blind index of it — the database holds
nothing that finds a book without the code. Each share keeps the book's public card
(``PublicCard``, encrypted): what a check shows, rewritten in the same transaction as any change
of the book that changes it, so a check reads its share and no book.

``share_checks``: every check made with a code, appended (share id and time, nothing else)
before the check answers. Checks arriving together are written together (``GroupInsert``):
a check costs a fraction of one write instead of a read-modify-write of its share, which is
what keeps the public check near the speed of a bare lookup. The holder's list counts them.
The first check of a Moscow day also marks the share, conditionally, staging the event that
tells the holder and the audit journal's entry of the check (the holder's "who saw my data",
through identity) — once a day per code, however many replicas check at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from emk_common.audit import AccessLog
from emk_common.clock import Clock
from emk_common.events import Envelope, EventData
from emk_common.group_insert import GroupInsert
from emk_common.journal import stage
from emk_common.outbox import Outbox
from records.domain.book import Book
from records.domain.shares import RECENT_CHECKS, PublicCard, Share, ShareChecks, public_card
from records.store.codec import Codec, Doc

_NO_CARD = {"card": 0}


class Shares:
    books: AsyncCollection[Doc]
    shares: AsyncCollection[Doc]
    share_checks: GroupInsert
    codec: Codec
    outbox: Outbox
    access_log: AccessLog
    _clock: Clock  # the events' time

    async def ensure_share_indexes(self) -> None:
        await self.shares.create_index("code", unique=True, name="by_code")
        await self.shares.create_index("holder_id", name="by_holder")
        await self.shares.create_index(
            [("employer_inn", ASCENDING), ("expires_at", ASCENDING)],
            name="by_employer",
            partialFilterExpression={"employer_inn": {"$type": "string"}},
        )
        await self.share_checks.collection.create_index(
            [("share_id", ASCENDING), ("at", ASCENDING)], name="by_share"
        )

    async def add_share(self, book: Book, share: Share, events: Iterable[EventData]) -> bool:
        """The share, with the book's public card, if the book is still the version the card
        was made from; False when it changed meanwhile. The book is marked shared and its
        version moved in the same transaction, so a concurrent change of the book either
        comes first (this returns False) or rewrites this share's card too."""
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
            "told_on": None,
            "card": self.codec.seal_card(book.id, public_card(book)),
        }
        staged = self.outbox.insert(document, self._wrap_share(share, events))

        async def write(session: AsyncClientSession) -> bool:
            # A new version, as any write of the book: the scheduler's claim goes with it (a
            # claim's own write would now lose to this one; the book is looked at again).
            marked = await self.books.update_one(
                {"_id": book.id, "version": book.version},
                {"$set": {"shared": True, "check_claim": None}, "$inc": {"version": 1}},
                session=session,
            )
            if marked.matched_count != 1:
                return False
            await self.shares.insert_one(staged, session=session)
            return True

        async with self.books.database.client.start_session() as session:
            return await session.with_transaction(write)

    async def share_by_code(self, code: str) -> Share | None:
        found = await self.shares.find_one({"code": self.codec.share_code_index(code)}, _NO_CARD)
        return self._share(found, code) if found else None

    async def share_for_check(self, code: str) -> tuple[Share, PublicCard | None] | None:
        """The share of ``code`` and the public card it keeps — all a check reads (None for a
        share made before shares kept cards: the book is read instead)."""
        found = await self.shares.find_one(
            {"code": self.codec.share_code_index(code)}, {"sealed_code": 0}
        )
        if found is None:
            return None
        sealed = found.get("card")
        card = None if sealed is None else self.codec.open_card(found["book_id"], sealed)
        return self._share(found, code), card

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

    async def log_check(
        self, share: Share, now: datetime, today: date, events: Iterable[EventData]
    ) -> None:
        """One more check of ``share``, written before it answers. ``events`` (the holder told)
        are staged by the first check of ``today``, and only by it."""
        if events:
            day = today.isoformat()
            # Who checked is not known (a code is a bearer secret): the code itself is the
            # actor, and the employer the share names, if any, its organisation.
            entry = self.access_log.entry(
                share.book_id, share.holder_id, actor_id=f"share:{share.id}",
                actor_role="share_code", action="share_check", reason=None, at=now,
                organization_id=share.employer_inn,
            )  # fmt: skip
            staged = stage(
                self.outbox.update(
                    share.id, {"$set": {"told_on": day}}, self._wrap_share(share, events)
                ),
                [entry],
            )
            # Another check of this day may have come first: then it told the holder.
            await self.shares.update_one({"_id": share.id, "told_on": {"$ne": day}}, staged)
        await self.share_checks.insert({"share_id": share.id, "at": now})

    async def checks_of(self, share_ids: Iterable[str]) -> dict[str, ShareChecks]:
        checks = self.share_checks.collection
        found: dict[str, ShareChecks] = {}
        for share_id in share_ids:
            count = await checks.count_documents({"share_id": share_id})
            latest = checks.find({"share_id": share_id}, {"_id": 0, "at": 1})
            recent = [doc["at"] async for doc in latest.sort("at", -1).limit(RECENT_CHECKS)]
            found[share_id] = ShareChecks(count=count, recent=tuple(reversed(recent)))
        return found

    def _wrap_share(self, share: Share, events: Iterable[EventData]) -> list[Envelope]:
        # Keyed by the book: on the topic, a share's events stay in order with the book's.
        at = self._clock()
        return [Envelope.wrap(e, source="records", subject=share.book_id, at=at) for e in events]

    def _share(self, doc: Doc, code: str | None = None) -> Share:
        """``code``: the code the share was found by (its blind index matched), so the sealed
        copy need not be opened."""
        told = doc.get("told_on")
        return Share(
            id=doc["_id"],
            book_id=doc["book_id"],
            holder_id=doc["holder_id"],
            code=code or self.codec.open_share_code(doc["_id"], doc["sealed_code"]),
            created_at=doc["created_at"],
            expires_at=doc["expires_at"],
            employer_inn=doc.get("employer_inn"),
            revoked_at=doc.get("revoked_at"),
            told_on=date.fromisoformat(told) if told else None,
        )
