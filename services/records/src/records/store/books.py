"""The aggregate's collections: ``books`` (one small document a book, with its pending
events), ``record_versions`` (one document a version, never changed) and ``sequences``
(the numbers given per region and year)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common.audit import AccessLog
from emk_common.clock import Clock
from emk_common.events import Envelope, EventData
from emk_common.journal import JOURNAL_FIELD, stage, stage_insert
from emk_common.mongo import claim_one
from emk_common.outbox import OUTBOX_FIELD, Outbox
from records.domain.book import Book, Change, DuplicateRecordError, Holder, RecordVersion
from records.domain.shares import PublicCard, public_card
from records.ports import HolderHasBookError
from records.store.codec import (
    Codec,
    Doc,
    check_at,
    grant_doc,
    position_doc,
    published_doc,
)
from records.views import record_lists

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # before every check: the claim's lower bound
_NOT_SHOWN = {OUTBOX_FIELD: 0, JOURNAL_FIELD: 0, "shown": 0}
_SYSTEM = ("records", "system")  # the service itself: an event handled, a scheduled check


class Books:
    books: AsyncCollection[Doc]
    versions: AsyncCollection[Doc]
    sequences: AsyncCollection[Doc]
    shares: AsyncCollection[Doc]
    access_log: AccessLog  # the audit journal: a write's entry rides in the book's write
    outbox: Outbox
    codec: Codec
    _clock: Clock  # the events' time

    async def get(self, book_id: str, *, records: bool = False) -> Book | None:
        """The book; with ``records`` its record versions too (what a decision on records,
        or a history, needs — the rest is decided on the book's own small document)."""
        return await self._read({"_id": book_id}, records)

    async def of_holder(self, holder_id: str, *, records: bool = False) -> Book | None:
        return await self._read({"holder_id": holder_id}, records)

    async def _read(self, query: Doc, records: bool) -> Book | None:
        doc = await self.books.find_one(query, _NOT_SHOWN)
        if doc is None:
            return None
        return await self._loaded(doc) if records else self.codec.book(doc)

    async def shown(self, book_id: str) -> tuple[Book, str] | None:
        """For reading a book: the book *without its record versions* (not loaded) and the
        rendered lists of its records' current versions (``records.views``) — one small read."""
        return await self._shown({"_id": book_id})

    async def shown_of_holder(self, holder_id: str) -> tuple[Book, str] | None:
        return await self._shown({"holder_id": holder_id})

    async def _shown(self, query: Doc) -> tuple[Book, str] | None:
        doc = await self.books.find_one(query, {OUTBOX_FIELD: 0, JOURNAL_FIELD: 0})
        if doc is None:
            return None
        return self.codec.book(doc), self.codec.open_shown(doc["_id"], doc["shown"])

    async def by_identifiers(self, number: str, snils: str) -> Book | None:
        found = await self.books.find_one({"number": number}, _NOT_SHOWN)
        if found is None or not hmac.compare_digest(
            found["snils_index"], self.codec.snils_index(snils)
        ):
            return None
        return self.codec.book(found)

    async def insert(self, book: Book, events: Iterable[EventData], today: date) -> None:
        """Raises :class:`HolderHasBookError` when the holder has a book (or the number is
        taken)."""
        document = {
            "_id": book.id,
            "holder_id": book.holder_id,
            "number": book.number,
            "issued_at": book.issued_at,
            "issued_on": book.issued_on.isoformat(),
            "holder": self.codec.seal_holder(book.id, book.holder),
            "snils_index": self.codec.snils_index(book.holder.snils),
            "positions": [position_doc(p) for p in book.positions],
            "records": [],
            "grants": [],
            "basis": self.codec.seal_basis(book.id, book.basis),
            "shown": self.codec.seal_shown(book.id, record_lists(())),
            "published": published_doc(book.published),
            "next_check_at": check_at(book.next_check(today)),
            "check_claim": None,
            "version": book.version,
        }
        entry = self._entry(book, *_SYSTEM, "book.issue")
        staged = stage_insert(self.outbox.insert(document, self._wrap(book, events)), [entry])
        try:
            await self.books.insert_one(staged)
        except DuplicateKeyError:
            raise HolderHasBookError(book.holder_id) from None

    async def apply(self, book: Book, change: Change, today: date) -> bool:
        """Writes ``change`` if the book is still the version it was decided on."""
        fields: Doc = {"check_claim": None}
        push: Doc = {}
        if change.record is not None:
            # The version first: it counts only once this book's write references it.
            version = self.codec.version_doc(book.id, change.record)
            await self._keep_version(book.id, version, change.record)
            push["records"] = version["_id"]
            after = replace(book, records=(*book.records, change.record))
            fields["shown"] = self.codec.seal_shown(book.id, record_lists(after.current_records()))
        if change.position is not None:
            push["positions"] = position_doc(change.position)
        if change.grant is not None:
            if any(g.id == change.grant.id for g in book.grants):  # an extended grant
                fields["grants"] = [
                    grant_doc(change.grant if g.id == change.grant.id else g) for g in book.grants
                ]
            else:
                push["grants"] = grant_doc(change.grant)
        if change.basis is not None:
            fields["basis"] = self.codec.seal_basis(book.id, change.basis)
            fields["next_check_at"] = check_at(replace(book, basis=change.basis).next_check(today))
        if change.published is not None:
            fields["published"] = published_doc(change.published)
        update: Doc = {"$set": fields, "$inc": {"version": 1}}
        if push:
            update["$push"] = push
        if change.ended_grants:
            # Positional updates one grant at a time would need a write each; the list is
            # short, so it is rewritten whole, conditional on the version like the rest.
            fields["grants"] = [
                grant_doc(
                    replace(g, ended_at=change.ended_at, ended_by=change.ended_by)
                    if g.id in change.ended_grants
                    else g
                )
                for g in book.grants
            ]
        staged = stage(
            self.outbox.update(book.id, update, self._wrap(book, change.events)),
            [self._change_entry(book, change)],
        )
        after = book if change.basis is None else replace(book, basis=change.basis)
        return await self._write(book, staged, self._card_change(book, after))

    async def refresh_holder(self, book: Book, holder: Holder) -> bool:
        update = {
            "$set": {
                "holder": self.codec.seal_holder(book.id, holder),
                "snils_index": self.codec.snils_index(holder.snils),
            },
            "$inc": {"version": 1},
        }
        return await self._write(
            book,
            stage(update, [self._entry(book, *_SYSTEM, "holder.refresh")]),
            self._card_change(book, replace(book, holder=holder)),
        )

    def _entry(
        self, book: Book, actor_id: str, role: str, action: str, organization_id: str | None = None
    ) -> Doc:
        # Not listed to the holder: the use cases still log the lookup or write that made the
        # change as an access of its own (with its reason).
        return self.access_log.entry(
            book.id, book.holder_id, actor_id=actor_id, actor_role=role, action=action,
            reason=None, at=self._clock(), organization_id=organization_id, listed=False,
        )  # fmt: skip

    def _change_entry(self, book: Book, change: Change) -> Doc:
        """The journal's entry of a change, told by what the change holds: who signed its
        record, whose lookup opened the book, whether its holder ended a grant; otherwise the
        service itself (an approval handled, a scheduled check). The action lists what changed
        (codes only)."""
        actor, role, organization = _SYSTEM[0], _SYSTEM[1], None
        actions: list[str] = []
        if change.ended_grants:
            actions.append("grant.end")
            if change.ended_by == book.holder_id:
                actor, role = book.holder_id, "citizen"
        if change.grant is not None:
            extended = any(g.id == change.grant.id for g in book.grants)
            actions.append("grant.extend" if extended else "grant.open")
            actor, role = change.grant.granted_by, "medical_worker"
            organization = change.grant.organization.id
        if change.record is not None:
            record = change.record
            actions.append("record.correct" if record.replaces else f"record.{record.kind}")
            actor, role = record.author.user_id, "medical_worker"
            organization = record.organization.id
        if change.position is not None:
            actions.append("position.add")
        if change.basis is not None or change.published is not None:
            actions.append("validity")
        return self._entry(book, actor, role, "+".join(actions) or "write", organization)

    @staticmethod
    def _card_change(book: Book, after: Book) -> PublicCard | None:
        """The public card the book's shares must now keep; None when they keep theirs (no
        share, or nothing the public check shows changed — most records change nothing)."""
        if not book.shared:
            return None
        card = public_card(after)
        return None if card == public_card(book) else card

    async def _write(self, book: Book, update: Doc, card: PublicCard | None) -> bool:
        """The book's write, conditional on the version it was decided on; with a new public
        card, its shares' cards in the same transaction — a check never shows a card older
        than the book (a share made meanwhile bumps the version too: see ``add_share``)."""
        query: Doc = {"_id": book.id, "version": book.version}
        if card is None:
            return (await self.books.update_one(query, update)).matched_count == 1
        sealed = self.codec.seal_card(book.id, card)

        async def write(session: AsyncClientSession) -> bool:
            written = await self.books.update_one(query, update, session=session)
            if written.matched_count != 1:
                return False
            await self.shares.update_many(
                {"holder_id": book.holder_id}, {"$set": {"card": sealed}}, session=session
            )
            return True

        async with self.books.database.client.start_session() as session:
            return await session.with_transaction(write)

    async def claim_due(
        self, now: datetime, hold: timedelta, owner: str
    ) -> tuple[Book, datetime] | None:
        """One book whose next check is due and that no live replica holds, with the instant
        its check fell due (how late the scheduler is)."""
        claimed = await claim_one(
            self.books,
            {"next_check_at": {"$gte": _EPOCH, "$lte": now}},
            sort="next_check_at",
            held_until="check_claim.until",
            now=now,
            claim={"check_claim": {"owner": owner, "until": now + hold}},
        )
        return (self.codec.book(claimed), claimed["next_check_at"]) if claimed else None

    async def next_sequence(self, region_code: str, year: int) -> int:
        # A sequence must read back exactly its own increment: findAndModify, on a small
        # collection (one document per region and year). Gaps are fine, repeats never.
        counter = await self.sequences.find_one_and_update(
            {"_id": f"{region_code}:{year}"},
            {"$inc": {"n": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None
        return int(counter["n"])

    def _wrap(self, book: Book, events: Iterable[EventData]) -> list[Envelope]:
        at = self._clock()
        return [Envelope.wrap(e, source="records", subject=book.id, at=at) for e in events]

    async def _loaded(self, doc: Doc) -> Book:
        referenced = doc["records"]
        found = {
            v["_id"]: v async for v in self.versions.find({"book_id": doc["_id"]}, {"book_id": 0})
        }
        versions = tuple(self.codec.record(doc["_id"], found[vid]) for vid in referenced)
        return replace(self.codec.book(doc), records=versions, records_loaded=True)

    async def _keep_version(self, book_id: str, version: Doc, record: RecordVersion) -> None:
        """Insert a version; one already there under its id (this record at this version) is
        fine only if it is this very record — a try that lost a race left it. Another record
        under the same id is a record sent twice at once: :class:`DuplicateRecordError`."""
        try:
            await self.versions.insert_one(version)
        except DuplicateKeyError:
            stored = await self.versions.find_one({"_id": version["_id"]})
            if stored is None or self.codec.record(book_id, stored).content != record.content:
                raise DuplicateRecordError(record.record_id) from None
