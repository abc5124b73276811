"""In-memory fakes of the documents service's ports (``documents.ports``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pymongo.errors import NetworkTimeout

from documents.domain.document import Document
from documents.ports import (
    Access,
    Listing,
    ObjectMissingError,
    ScannerUnavailableError,
    Sealed,
    StorageUnavailableError,
)
from documents.service import Documents
from documents.settings import DocumentsSettings
from emk_common.auth import Principal, Role
from emk_common.events import EventData
from emk_testing import FakeClock

CHUNK = 4


def person(user_id: str, role: Role = "citizen") -> Principal:
    return Principal(user_id, role, None, None, f"token-of-{user_id}")


@dataclass
class FakeScanner:
    threat: str | None = None
    down: bool = False
    scanned: int = 0

    async def scan(self, data: bytes) -> str | None:
        self.scanned += 1
        if self.down:
            raise ScannerUnavailableError("ConnectionRefusedError")
        return self.threat


@dataclass
class FakePlaintext:
    chunks: list[bytes] | None
    down: bool
    journal: list[str]
    closed: bool = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self.down:
            raise StorageUnavailableError("ConnectionRefusedError")
        if self.chunks is None:
            raise ObjectMissingError("NoSuchKey")
        for chunk in self.chunks:
            if self.closed:
                return
            self.journal.append("chunk")
            yield chunk

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeStorage:
    """Objects "sealed" by reversing them; the data key names the document."""

    objects: dict[str, bytes] = field(default_factory=dict)
    down: bool = False
    # S3 away for writes: "lost" stores the object and then fails (its answer never came).
    put_fails: Literal["no", "refused", "lost"] = "no"
    remove_fails: int = 0  # how many removals fail before S3 answers again
    removed: list[str] = field(default_factory=list)
    opened: list[FakePlaintext] = field(default_factory=list)
    # What happened, in order, shared with the store: chunks handed out, log entries.
    journal: list[str] = field(default_factory=list)

    def seal(self, document_id: str, data: bytes) -> Sealed:
        return Sealed(data[::-1], f"key-of-{document_id}")

    async def put(self, document_id: str, blob: bytes) -> None:
        if self.put_fails == "lost":
            self.objects[document_id] = blob
        if self.put_fails != "no":
            raise StorageUnavailableError("MaxRetryError")
        self.objects[document_id] = blob

    async def remove(self, document_id: str) -> None:
        if self.remove_fails > 0:
            self.remove_fails -= 1
            raise StorageUnavailableError("MaxRetryError")
        self.objects.pop(document_id, None)
        self.removed.append(document_id)

    def open(self, document_id: str, data_key: str, size: int) -> FakePlaintext:
        assert data_key == f"key-of-{document_id}"
        blob = self.objects.get(document_id)
        data = None if blob is None else blob[::-1]
        chunks = None if data is None else [data[i : i + CHUNK] for i in range(0, size, CHUNK)]
        plaintext = FakePlaintext(chunks, self.down, self.journal)
        self.opened.append(plaintext)
        return plaintext


@dataclass
class FakeStore:
    documents: dict[str, Document] = field(default_factory=dict)
    events: list[EventData] = field(default_factory=list)
    log_entries: list[tuple[str, Access]] = field(default_factory=list)
    # A decision taken by someone else between our read and our write.
    racing: Document | None = None
    journal: list[str] = field(default_factory=list)
    # MongoDB away for inserts: "lost" writes the document and then fails (a timed-out write
    # that landed after all); reads fail while ``reads_fail`` is above zero.
    insert_fails: Literal["no", "timeout", "lost"] = "no"
    reads_fail: int = 0

    async def get(self, document_id: str) -> Document | None:
        if self.reads_fail > 0:
            self.reads_fail -= 1
            raise NetworkTimeout("MongoDB is frozen")
        return self.documents.get(document_id)

    async def insert(self, document: Document, events: Iterable[EventData]) -> None:
        assert document.id not in self.documents
        if self.insert_fails == "timeout":
            raise NetworkTimeout("MongoDB is frozen")
        self.documents[document.id] = document
        self.events.extend(events)
        if self.insert_fails == "lost":
            raise NetworkTimeout("MongoDB is frozen")

    async def apply(
        self, before: Document, after: Document, events: Iterable[EventData]
    ) -> Document | None:
        if self.racing is not None:
            self.documents[before.id], self.racing = self.racing, None
        if self.documents[before.id].status != before.status:
            return None
        self.documents[before.id] = after
        self.events.extend(events)
        return after

    async def page(
        self, listing: Listing, *, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        shown = [
            d
            for d in self.documents.values()
            if (listing.owner_id is None or d.owner_id == listing.owner_id)
            and (not listing.status or d.status == listing.status)
            and (listing.created_before is None or d.created_at < listing.created_before)
            and (listing.created_since is None or d.created_at >= listing.created_since)
        ]
        shown.sort(key=lambda d: d.created_at, reverse=not listing.oldest_first)
        return shown[offset : offset + limit], len(shown)

    async def log(self, document: Document, access: Access) -> None:
        self.log_entries.append((document.id, access))
        self.journal.append(f"log {access.action}")

    async def log_many(self, documents: Sequence[Document], access: Access) -> None:
        for document in documents:
            await self.log(document, access)

    def actions(self, document_id: str) -> list[tuple[str, str, str | None]]:
        return [(a.actor_id, a.action, a.reason) for d, a in self.log_entries if d == document_id]


@dataclass
class Service:
    documents: Documents
    store: FakeStore
    storage: FakeStorage
    scanner: FakeScanner
    clock: FakeClock

    def advance(self, hours: float) -> None:
        self.clock.advance(hours=hours)

    @property
    def review_time(self) -> timedelta:
        return self.documents.review_time


def service(clock: FakeClock) -> Service:
    journal: list[str] = []
    store, storage = FakeStore(journal=journal), FakeStorage(journal=journal)
    scanner = FakeScanner()
    documents = Documents(store, DocumentsSettings(), storage=storage, scanner=scanner, clock=clock)
    return Service(documents, store, storage, scanner, clock)
