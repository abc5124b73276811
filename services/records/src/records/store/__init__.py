"""The records' MongoDB: books (the aggregate, with its pending events), their record
versions, number sequences (``books.py``), medical workers' signing keys (``keys.py``), visit
codes (``visits.py``), share codes (``shares.py``), the access log, and what the service
keeps of other services (deactivated staff and the books their lookups opened:
``workers.py``) and of abuse (failed lookups). Documents <-> the aggregate, and what is
encrypted: ``codec.py``.

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

``BookStore`` is the service's ``ports.Store``; the validity scheduler also claims due books
from it (``claim_due``).
"""

from __future__ import annotations

from pymongo import ASCENDING

from emk_common.audit import AccessLog
from emk_common.crypto import BlindIndex, FieldCipher
from emk_common.group_insert import GroupInsert
from emk_common.limits import RateLimits
from emk_common.service import Runtime
from records.store.books import Books
from records.store.codec import Codec
from records.store.keys import SigningKeys
from records.store.shares import Shares
from records.store.visits import VisitCodes
from records.store.workers import Workers

__all__ = ["BookStore"]


class BookStore(Books, SigningKeys, VisitCodes, Workers, Shares):
    def __init__(self, runtime: Runtime, cipher: FieldCipher, index: BlindIndex) -> None:
        self.outbox = runtime.outbox
        self._clock = runtime.clock  # the events' time
        self.codec = Codec(cipher, index)
        self.books = runtime.collection("books")
        self.versions = runtime.collection("record_versions")
        self.sequences = runtime.collection("sequences")
        self.keys = runtime.collection("signing_keys")
        self.visit_codes = runtime.collection("visit_codes")
        self.workers = runtime.collection("workers")
        self.shares = runtime.collection("shares")
        self.share_checks = GroupInsert(runtime.collection("share_checks"))
        self.limits = RateLimits(runtime.collection("rate_limits"), runtime.clock)
        self.access_log = AccessLog(runtime.collection("access_log"), "book", runtime.clock)

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
        await self.ensure_share_indexes()
