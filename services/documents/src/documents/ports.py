"""What the documents service needs from outside, as protocols; ``adapters/`` implements
them, tests replace them through ``build(...)``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from documents.domain.document import Document, Status
from emk_common.events import EventData


class ScannerUnavailableError(Exception):
    """The scanner did not answer: the upload must be refused, never stored unscanned."""


class Scanner(Protocol):
    """A malware scanner (ClamAV's clamd here)."""

    async def scan(self, data: bytes) -> str | None:
        """None when clean, else the name of what was found."""
        ...


class ObjectMissingError(Exception):
    """The document's object is not in the storage (its bytes are lost)."""


class StorageUnavailableError(Exception):
    """The object storage did not answer, or failed: try again later."""


@dataclass(frozen=True)
class Sealed:
    """An object encrypted for storage, and its data key wrapped by the master keyring."""

    blob: bytes
    data_key: str


class Plaintext(Protocol):
    """One object's bytes as they arrive, decrypted and authenticated: iterate it once.
    Raises :class:`ObjectMissingError` or :class:`StorageUnavailableError` where it is
    iterated; ``close`` stops the reading when the reader goes away."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class ObjectStorage(Protocol):
    """Where the documents' bytes are kept, encrypted (S3 here): one object per document."""

    def seal(self, document_id: str, data: bytes) -> Sealed:
        """Encrypt under a fresh data key. Blocking (CPU only): run it in a thread."""
        ...

    async def put(self, document_id: str, blob: bytes) -> None: ...

    async def remove(self, document_id: str) -> None:
        """Remove the object (gone already is fine): a failed upload leaves none behind."""
        ...

    def open(self, document_id: str, data_key: str, size: int) -> Plaintext:
        """Start reading the object now; a bad key fails here, before anything is read."""
        ...


@dataclass(frozen=True)
class Listing:
    """Which documents a list shows, in which order."""

    owner_id: str | None = None
    status: Status | None = None
    created_before: datetime | None = None
    created_since: datetime | None = None
    oldest_first: bool = True


@dataclass(frozen=True)
class Access:
    """One entry of the access log: who did what to a document, and why."""

    actor_id: str
    actor_role: str
    action: str
    reason: str | None


class Store(Protocol):
    """The documents and their access log as the use cases see them: ``store.py`` on
    MongoDB, an in-memory one in the unit tests."""

    async def get(self, document_id: str) -> Document | None: ...

    async def insert(self, document: Document, events: Iterable[EventData]) -> None:
        """The new document with its events, in one write."""
        ...

    async def apply(
        self, before: Document, after: Document, events: Iterable[EventData]
    ) -> Document | None:
        """Writes a decision and its events if the document is still as ``before``; the
        document as stored after it, or None when another decision came first."""
        ...

    async def page(
        self, listing: Listing, *, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        """One page of the documents a listing shows, and how many it shows in all."""
        ...

    async def log(self, document: Document, access: Access) -> None: ...

    async def log_many(self, documents: Sequence[Document], access: Access) -> None:
        """One access-log entry per document (a list shown), in one write."""
        ...
