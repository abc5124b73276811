"""The records' MongoDB: books (the aggregate, with its pending events), their record
versions, number sequences, medical workers' signing keys, visit codes, the access log, and
what the service keeps of other services (deactivated staff) and of abuse (failed lookups).

A book is one small document: holder (encrypted), positions, grants, its validity basis
(encrypted), what the topic was last told, the references of its record versions and the
rendered view of their current versions (compressed, encrypted). A change and its events
are one write of it, conditional on the version the change was decided on.

Record versions live in ``record_versions``, one document each, never changed (content
encrypted, signature in the clear): a book's document stays small however long its
history, so reading and writing it cost the same at 5 records and at 300. A version is
written first and counts once the book's write references it; one whose book write lost a
race stays unreferenced (its id carries its content's hash, so it is never overwritten)
and is ignored.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import rfc8785
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from emk_common import catalog
from emk_common.audit import AccessLog
from emk_common.crypto import BlindIndex, FieldCipher
from emk_common.events import Envelope, EventData
from emk_common.limits import RateLimits
from emk_common.mongo import claim_one, update_and_read
from emk_common.outbox import OUTBOX_FIELD
from emk_common.service import Runtime
from records.domain.book import (
    Author,
    Book,
    Change,
    DuplicateRecordError,
    Grant,
    Holder,
    Organization,
    Position,
    Published,
    RecordVersion,
)
from records.domain.dates import start_of
from records.domain.validity import Basis
from records.views import record_lists

Doc = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # before every check: the claim's lower bound

__all__ = ["BookStore", "DuplicateKeyError"]


def normalised_snils(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


class BookStore:
    def __init__(self, runtime: Runtime, cipher: FieldCipher, index: BlindIndex) -> None:
        self.outbox = runtime.outbox
        self._clock = runtime.clock  # the events' time
        self.books = runtime.collection("books")
        self.versions = runtime.collection("record_versions")
        self.sequences = runtime.collection("sequences")
        self.keys = runtime.collection("signing_keys")
        self.visit_codes = runtime.collection("visit_codes")
        self.workers = runtime.collection("workers")
        self.limits = RateLimits(runtime.collection("rate_limits"), runtime.clock)
        self.access_log = AccessLog(runtime.collection("access_log"), "book", runtime.clock)
        self._cipher = cipher
        self._index = index

    async def ensure_indexes(self) -> None:
        # Exactly one book per person, and a number is never given twice. Nothing else is
        # indexed on books: every write of a book updates every index it has (the local
        # MongoDB charges about 0.7 ms an index), and a book is written on every record.
        # A lookup finds the book by its number and then compares the СНИЛС; the books a
        # worker opened are listed in ``workers``.
        await self.books.create_index("holder_id", unique=True, name="one_book_per_holder")
        await self.books.create_index("number", unique=True, name="unique_number")
        await self.books.create_index([("next_check_at", ASCENDING)], name="checks")
        await self.versions.create_index("book_id", name="by_book")
        await self.keys.create_index("worker_id", name="by_worker")
        await self.visit_codes.create_index("expires_at", expireAfterSeconds=0, name="expiry")
        await self.limits.ensure_indexes()
        await self.access_log.ensure_indexes()

    # --- the aggregate -------------------------------------------------------------------

    def snils_index(self, snils: str) -> str:
        # Its own purpose: the records' index cannot be joined with identity's.
        return self._index.index(normalised_snils(snils), purpose="records-snils")

    async def get(self, book_id: str, *, records: bool = False) -> Book | None:
        """The book; with ``records`` its record versions too (what a decision on records,
        or a history, needs — the rest is decided on the book's own small document)."""
        return await self._read({"_id": book_id}, records)

    async def of_holder(self, holder_id: str, *, records: bool = False) -> Book | None:
        return await self._read({"holder_id": holder_id}, records)

    async def _read(self, query: Doc, records: bool) -> Book | None:
        doc = await self.books.find_one(query, {OUTBOX_FIELD: 0, "shown": 0})
        if doc is None:
            return None
        return await self._loaded(doc) if records else self._book(doc)

    async def shown(self, query: Doc) -> tuple[Book, str] | None:
        """For reading a book: the book *without its record versions* (not loaded) and the
        rendered lists of its records' current versions (``records.views``) — one small read."""
        doc = await self.books.find_one(query, {OUTBOX_FIELD: 0})
        if doc is None:
            return None
        sealed = self._cipher.decrypt_bytes(doc["shown"], context=_shown_context(doc["_id"]))
        return self._book(doc), zlib.decompress(sealed).decode()

    async def by_identifiers(self, number: str, snils: str) -> Book | None:
        found = await self.books.find_one({"number": number}, {OUTBOX_FIELD: 0, "shown": 0})
        if found is None or not hmac.compare_digest(found["snils_index"], self.snils_index(snils)):
            return None
        return self._book(found)

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
        return [self._book(d) for d in await found.to_list()]

    async def insert(self, book: Book, events: Iterable[EventData], today: date) -> None:
        """Raises ``DuplicateKeyError`` when the holder has a book (or the number is taken)."""
        document = {
            "_id": book.id,
            "holder_id": book.holder_id,
            "number": book.number,
            "issued_at": book.issued_at,
            "issued_on": book.issued_on.isoformat(),
            "holder": self._seal_holder(book.id, book.holder),
            "snils_index": self.snils_index(book.holder.snils),
            "positions": [_position_doc(p) for p in book.positions],
            "records": [],
            "grants": [],
            "basis": self._seal_basis(book.id, book.basis),
            "shown": self._seal_shown(book.id, record_lists(())),
            "published": _published_doc(book.published),
            "next_check_at": _check_at(book.next_check(today)),
            "check_claim": None,
            "version": book.version,
        }
        await self.books.insert_one(self.outbox.insert(document, self._wrap(book, events)))

    async def apply(self, book: Book, change: Change, today: date) -> bool:
        """Writes ``change`` if the book is still the version it was decided on."""
        fields: Doc = {"check_claim": None}
        push: Doc = {}
        if change.record is not None:
            # The version first: it counts only once this book's write references it.
            version = self._version_doc(book.id, change.record)
            await self._keep_version(book.id, version, change.record)
            push["records"] = version["_id"]
            after = replace(book, records=(*book.records, change.record))
            fields["shown"] = self._seal_shown(book.id, record_lists(after.current_records()))
        if change.position is not None:
            push["positions"] = _position_doc(change.position)
        if change.grant is not None:
            if any(g.id == change.grant.id for g in book.grants):  # an extended grant
                fields["grants"] = [
                    _grant_doc(change.grant if g.id == change.grant.id else g) for g in book.grants
                ]
            else:
                push["grants"] = _grant_doc(change.grant)
        if change.basis is not None:
            fields["basis"] = self._seal_basis(book.id, change.basis)
            fields["next_check_at"] = _check_at(replace(book, basis=change.basis).next_check(today))
        if change.published is not None:
            fields["published"] = _published_doc(change.published)
        update: Doc = {"$set": fields, "$inc": {"version": 1}}
        if push:
            update["$push"] = push
        query: Doc = {"_id": book.id, "version": book.version}
        if change.ended_grants:
            # Positional updates one grant at a time would need a write each; the list is
            # short, so it is rewritten whole, conditional on the version like the rest.
            fields["grants"] = [
                _grant_doc(
                    replace(g, ended_at=change.ended_at, ended_by=change.ended_by)
                    if g.id in change.ended_grants
                    else g
                )
                for g in book.grants
            ]
        staged = self.outbox.update(book.id, update, self._wrap(book, change.events))
        written = await self.books.update_one(query, staged)
        return written.matched_count == 1

    async def refresh_holder(self, book: Book, holder: Holder) -> bool:
        written = await self.books.update_one(
            {"_id": book.id, "version": book.version},
            {
                "$set": {
                    "holder": self._seal_holder(book.id, holder),
                    "snils_index": self.snils_index(holder.snils),
                },
                "$inc": {"version": 1},
            },
        )
        return written.matched_count == 1

    async def claim_due(self, now: datetime, hold: timedelta, owner: str) -> Book | None:
        """One book whose next check is due and that no live replica holds."""
        claimed = await claim_one(
            self.books,
            {"next_check_at": {"$gte": _EPOCH, "$lte": now}},
            sort="next_check_at",
            held_until="check_claim.until",
            now=now,
            claim={"check_claim": {"owner": owner, "until": now + hold}},
        )
        return self._book(claimed) if claimed else None

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

    # --- documents <-> the aggregate -------------------------------------------------------

    async def _loaded(self, doc: Doc) -> Book:
        referenced = doc["records"]
        found = {
            v["_id"]: v async for v in self.versions.find({"book_id": doc["_id"]}, {"book_id": 0})
        }
        versions = tuple(self._record(doc["_id"], found[vid]) for vid in referenced)
        return replace(self._book(doc), records=versions, records_loaded=True)

    def _book(self, doc: Doc) -> Book:
        """The book from its document, without its record versions (see ``_loaded``)."""
        book_id = doc["_id"]
        holder = json.loads(self._cipher.decrypt(doc["holder"], context=_holder_context(book_id)))
        basis = json.loads(self._cipher.decrypt(doc["basis"], context=_basis_context(book_id)))
        published = doc["published"]
        return Book(
            id=book_id,
            holder_id=doc["holder_id"],
            number=doc["number"],
            issued_at=doc["issued_at"],
            issued_on=date.fromisoformat(doc["issued_on"]),
            holder=Holder(**{**holder, "birth_date": date.fromisoformat(holder["birth_date"])}),
            positions=tuple(
                Position(**{**p, "since": date.fromisoformat(p["since"])}) for p in doc["positions"]
            ),
            records=(),
            records_loaded=False,
            basis=Basis.from_doc(basis),
            published=Published(
                status=published["status"],
                due=tuple(catalog.DueItem.model_validate(d) for d in published["due"]),
            ),
            version=doc["version"],
            grants=tuple(_grant(g) for g in doc.get("grants", [])),
        )

    def _seal_holder(self, book_id: str, holder: Holder) -> str:
        data = {**asdict(holder), "birth_date": holder.birth_date.isoformat()}
        return self._cipher.encrypt(
            json.dumps(data, ensure_ascii=False), context=_holder_context(book_id)
        )

    def _seal_shown(self, book_id: str, lists: str) -> bytes:
        # JSON of records compresses about tenfold: a tenth of the bytes to store and read.
        packed = zlib.compress(lists.encode(), level=1)
        return self._cipher.encrypt_bytes(packed, context=_shown_context(book_id))

    def _seal_basis(self, book_id: str, basis: Basis) -> str:
        return self._cipher.encrypt(
            json.dumps(basis.to_doc(), ensure_ascii=False), context=_basis_context(book_id)
        )

    async def _keep_version(self, book_id: str, version: Doc, record: RecordVersion) -> None:
        """Insert a version; one already there under its id (this record at this version) is
        fine only if it is this very record — a try that lost a race left it. Another record
        under the same id is a record sent twice at once: :class:`DuplicateRecordError`."""
        try:
            await self.versions.insert_one(version)
        except DuplicateKeyError:
            stored = await self.versions.find_one({"_id": version["_id"]})
            if stored is None or self._record(book_id, stored).content != record.content:
                raise DuplicateRecordError(record.record_id) from None

    def _version_doc(self, book_id: str, record: RecordVersion) -> Doc:
        # What was signed (its RFC 8785 bytes, so a reader can verify it), the signature and
        # the hash are sealed together: in the clear, a signature or a hash over a record of
        # a few possible values would give the values away to a dictionary.
        sealed = {
            "canonical": rfc8785.dumps(record.content).decode(),
            "signature": record.signature,
            "canonical_sha256": record.canonical_sha256,
        }
        return {
            # One version of one record: a retry of the same decision meets its own document.
            "_id": f"{book_id}:{record.record_id}:v{record.version}",
            "book_id": book_id,
            "id": record.id,
            "record_id": record.record_id,
            "version": record.version,
            "kind": record.kind,
            "date": record.date.isoformat(),
            "replaces": record.replaces,
            "recorded_at": record.recorded_at,
            "author": asdict(record.author),
            "organization": asdict(record.organization),
            "key_id": record.key_id,
            "sealed": self._cipher.encrypt(
                json.dumps(sealed, ensure_ascii=False),
                context=_record_context(book_id, record.record_id),
            ),
        }

    def _record(self, book_id: str, doc: Mapping[str, Any]) -> RecordVersion:
        sealed = json.loads(
            self._cipher.decrypt(doc["sealed"], context=_record_context(book_id, doc["record_id"]))
        )
        return RecordVersion(
            id=doc["id"],
            record_id=doc["record_id"],
            version=doc["version"],
            kind=doc["kind"],
            date=date.fromisoformat(doc["date"]),
            replaces=doc.get("replaces"),
            recorded_at=doc["recorded_at"],
            author=Author(**doc["author"]),
            organization=Organization(**doc["organization"]),
            key_id=doc["key_id"],
            signature=sealed["signature"],
            canonical_sha256=sealed["canonical_sha256"],
            content=json.loads(sealed["canonical"]),
        )

    # --- signing keys --------------------------------------------------------------------

    async def key(self, key_id: str) -> Doc | None:
        return await self.keys.find_one({"_id": key_id})

    async def register_key(self, key: Doc, now: datetime) -> Doc:
        """The worker's new live key; their earlier live keys become ``superseded`` (they
        still verify what they signed). Registering the live key again changes nothing."""
        existing = await self.keys.find_one({"_id": key["_id"]})
        if existing is not None:
            return existing
        await self.keys.update_many(
            {"worker_id": key["worker_id"], "state": "live"},
            {"$set": {"state": "superseded", "superseded_at": now}},
        )
        with contextlib.suppress(DuplicateKeyError):  # the same key registered twice at once
            await self.keys.insert_one(key)
        # Two keys registered at once: the later one is the live one.
        await self.keys.update_many(
            {"worker_id": key["worker_id"], "state": "live", "_id": {"$ne": key["_id"]},
             "registered_at": {"$lt": key["registered_at"]}},
            {"$set": {"state": "superseded", "superseded_at": now}},
        )  # fmt: skip
        found = await self.keys.find_one({"_id": key["_id"]})
        assert found is not None
        return found

    async def revoke_key(self, key_id: str, by: str, now: datetime) -> Doc | None:
        return await update_and_read(
            self.keys,
            {"_id": key_id, "state": {"$ne": "revoked"}},
            {"$set": {"state": "revoked", "revoked_at": now, "revoked_by": by}},
        )

    async def revoke_keys_of(self, worker_id: str, by: str, now: datetime) -> None:
        await self.keys.update_many(
            {"worker_id": worker_id, "state": {"$ne": "revoked"}},
            {"$set": {"state": "revoked", "revoked_at": now, "revoked_by": by}},
        )

    # --- medical workers, as identity tells of them -------------------------------------------

    async def deactivate_worker(self, worker_id: str, at: datetime) -> None:
        # $min: the first deactivation's time stays, and a missing field is set.
        await self.workers.update_one(
            {"_id": worker_id}, {"$min": {"deactivated_at": at}}, upsert=True
        )

    async def is_deactivated(self, worker_id: str) -> bool:
        found = await self.workers.find_one({"_id": worker_id}, {"deactivated_at": 1})
        return found is not None and found.get("deactivated_at") is not None

    # --- visit codes ---------------------------------------------------------------------

    def visit_code_index(self, code: str) -> str:
        return self._index.index(code, purpose="visit-code")

    async def add_visit_code(
        self, code: str, book_id: str, now: datetime, expires_at: datetime
    ) -> None:
        await self.visit_codes.insert_one(
            {
                "_id": self.visit_code_index(code),
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
            {"_id": self.visit_code_index(code), "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        return str(used["book_id"]) if used else None


def _holder_context(book_id: str) -> str:
    return f"records:{book_id}:holder"


def _shown_context(book_id: str) -> str:
    return f"records:{book_id}:shown"


def _basis_context(book_id: str) -> str:
    return f"records:{book_id}:basis"


def _record_context(book_id: str, record_id: str) -> str:
    return f"records:{book_id}:record:{record_id}"


def _check_at(day: date | None) -> datetime | None:
    return start_of(day).astimezone(UTC) if day is not None else None


def _position_doc(position: Position) -> Doc:
    return {**asdict(position), "since": position.since.isoformat()}


def _published_doc(published: Published) -> Doc:
    return {
        "status": published.status,
        "due": [d.model_dump(mode="json") for d in published.due],
    }


def _grant_doc(grant: Grant) -> Doc:
    return {**asdict(grant), "organization": asdict(grant.organization)}


def _grant(doc: Mapping[str, Any]) -> Grant:
    return Grant(**{**doc, "organization": Organization(**doc["organization"])})
