"""What the records service needs from outside, as protocols; ``adapters/`` implements
them, tests replace them through ``build(...)``. The service's own MongoDB is one too
(``Store``): ``store.BookStore`` implements it, the unit tests an in-memory one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from emk_common.audit import AccessEntry, AccessRecorder
from emk_common.events import EventData
from records.domain.book import Book, Change, Holder
from records.domain.keys import SigningKey
from records.domain.shares import PublicCard, Share, ShareChecks


class PeerUnavailableError(Exception):
    """A peer service did not answer in time, or answered 5xx: try again later."""


class PeerRefusedError(Exception):
    """A peer answered that the thing asked for is not there (deterministic)."""


@dataclass(frozen=True)
class HolderData:
    holder: Holder
    region_code: str


@dataclass(frozen=True)
class StaffMember:
    user_id: str
    role: str
    organization_id: str | None
    name: str


@dataclass(frozen=True)
class Employment:
    application_id: str
    applicant_id: str
    employer_name: str | None
    employer_inn: str | None
    position: str | None
    department: str | None


class People(Protocol):
    """Identity's internal API, asked with this service's token."""

    async def holder(self, user_id: str) -> HolderData: ...

    async def staff(self, user_id: str) -> StaffMember: ...


class Employments(Protocol):
    """Applications' internal API: the employer and position of an approved application."""

    async def employment(self, application_id: str) -> Employment: ...


@dataclass(frozen=True)
class MedicalOrganisation:
    ogrn: str
    name: str
    region_code: str
    # The exam types its licence covers (``preliminary``, ``periodic``).
    licensed_exams: frozenset[str]


class MedicalOrganisations(Protocol):
    """The registry of medical organisations (local adapter: ``deploy/local/registries``)."""

    def get(self, ogrn: str) -> MedicalOrganisation | None: ...


class SignatureScheme(Protocol):
    """How a record's signature is checked: Ed25519 here; a ГОСТ Р 34.10-2012 qualified
    signature can take its place in production."""

    name: str

    def public_key_ok(self, public_key: bytes) -> bool: ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...


class HolderHasBookError(Exception):
    """The holder has a book already (or its number was given): another approval of the same
    person issued it meanwhile."""


class RateLimiter(Protocol):
    """Counters shared by every replica (``emk_common.limits.RateLimits``)."""

    async def hit(
        self, bucket: str, key: str, *, limit: int, window: timedelta
    ) -> float | None: ...

    async def forgive(self, bucket: str, key: str, *, window: timedelta) -> None: ...


class AccessJournal(AccessRecorder, Protocol):
    """Who did what with a book, and why (``emk_common.audit.AccessLog``): its holder reads it."""

    async def of(self, subject_id: str, *, limit: int = 100) -> list[AccessEntry]: ...


class Store(Protocol):
    """The books, signing keys, visit codes and what is kept of medical workers, as the use
    cases see them. A book is read without its record versions unless ``records`` is asked
    for; a change is written only onto the version it was decided on (``apply`` says
    whether it was)."""

    @property
    def limits(self) -> RateLimiter: ...

    @property
    def access_log(self) -> AccessJournal: ...

    # --- books -------------------------------------------------------------------------

    async def get(self, book_id: str, *, records: bool = False) -> Book | None: ...

    async def of_holder(self, holder_id: str, *, records: bool = False) -> Book | None: ...

    async def shown(self, book_id: str) -> tuple[Book, str] | None:
        """The book (records not loaded) and the JSON of its records' lists, for reading."""
        ...

    async def shown_of_holder(self, holder_id: str) -> tuple[Book, str] | None: ...

    async def by_identifiers(self, number: str, snils: str) -> Book | None: ...

    async def next_sequence(self, region_code: str, year: int) -> int: ...

    async def insert(self, book: Book, events: Iterable[EventData], today: date) -> None:
        """The new book with its events; :class:`HolderHasBookError` when the holder has one."""
        ...

    async def apply(self, book: Book, change: Change, today: date) -> bool: ...

    async def refresh_holder(self, book: Book, holder: Holder) -> bool: ...

    # --- medical workers -----------------------------------------------------------------

    async def opened_by(self, worker_id: str, book_id: str) -> None: ...

    async def granted_by(self, worker_id: str) -> list[Book]: ...

    async def deactivate_worker(self, worker_id: str, at: datetime) -> None: ...

    async def is_deactivated(self, worker_id: str) -> bool: ...

    # --- signing keys --------------------------------------------------------------------

    async def key(self, key_id: str) -> SigningKey | None: ...

    async def register_key(self, key: SigningKey, now: datetime) -> SigningKey:
        """The key as stored: this one, now live (earlier live keys superseded), or the one
        already registered under its id."""
        ...

    async def revoke_key(self, key_id: str, by: str, now: datetime) -> None: ...

    async def revoke_keys_of(self, worker_id: str, by: str, now: datetime) -> None: ...

    # --- share codes ---------------------------------------------------------------------

    async def add_share(self, book: Book, share: Share, events: Iterable[EventData]) -> bool:
        """The share with the book's public card; False if the book changed since it was read."""
        ...

    async def share_by_code(self, code: str) -> Share | None: ...

    async def share_for_check(self, code: str) -> tuple[Share, PublicCard | None] | None:
        """The share and the public card it keeps (None: read the book)."""
        ...

    async def shares_of(self, holder_id: str) -> list[Share]:
        """Newest first."""
        ...

    async def shared_with(self, employer_inn: str, now: datetime) -> list[Share]:
        """The live shares naming this employer."""
        ...

    async def revoke_share(self, share: Share, events: Iterable[EventData]) -> bool: ...

    async def log_check(
        self, share: Share, now: datetime, today: date, events: Iterable[EventData]
    ) -> None:
        """Logs one check, durably; ``events`` are staged only by the first check of ``today``."""
        ...

    async def checks_of(self, share_ids: Iterable[str]) -> dict[str, ShareChecks]:
        """The checks made with each of these shares."""
        ...

    # --- visit codes ---------------------------------------------------------------------

    async def add_visit_code(
        self, code: str, book_id: str, now: datetime, expires_at: datetime
    ) -> None: ...

    async def use_visit_code(self, code: str, now: datetime) -> str | None:
        """The book a live, unused code opens; the code is spent."""
        ...
