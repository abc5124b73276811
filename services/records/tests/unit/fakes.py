"""In-memory fakes of the records service's ports (``records.ports``): identity and
applications, the registry of medical organisations, and the store with its rate-limit
counters and access log (``rig.py`` wires the use cases on them). The MongoDB store's own
behaviour (documents, encryption, conditional writes) is tested through the API in tests/api."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from emk_common.events import EventData
from emk_identifiers import snils_check_number
from emk_testing import FakeClock, MemoryAccessLog
from records.domain.book import Book, Change, DuplicateRecordError, Holder
from records.domain.keys import SigningKey
from records.domain.shares import RECENT_CHECKS, PublicCard, Share, ShareChecks, public_card
from records.ports import (
    Employment,
    HolderData,
    HolderHasBookError,
    MedicalOrganisation,
    PeerRefusedError,
    PeerUnavailableError,
    StaffMember,
)
from records.views import record_lists

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
CLINIC = "1027700132195"
OTHER_CLINIC = "1028601443298"
PERIODIC_ONLY = "1037739010891"
WORKER_NAME = "Петрова Анна Сергеевна"


def snils_for(n: int) -> str:
    """A valid СНИЛС (11 digits) made from a number."""
    first = f"{100_000_000 + n % 800_000_000:09d}"
    return first + f"{snils_check_number(first):02d}"


# --- the ports ---------------------------------------------------------------------------------


@dataclass
class FakePeers:
    """Identity and applications as they answer the records service."""

    holders: dict[str, HolderData] = field(default_factory=dict)
    employments: dict[str, Employment] = field(default_factory=dict)
    down: bool = False
    calls: int = 0

    def person(self, user_id: str, *, region: str = "77", last_name: str = "Иванов") -> Holder:
        snils = snils_for(len(self.holders) + 1)
        holder = Holder(last_name, "Иван", "Иванович", date(1990, 5, 17), snils)
        self.holders[user_id] = HolderData(holder, region)
        return holder

    async def holder(self, user_id: str) -> HolderData:
        self.calls += 1
        if self.down:
            raise PeerUnavailableError("identity: ConnectError")
        if user_id not in self.holders:
            raise PeerRefusedError("identity: 404")
        return self.holders[user_id]

    async def staff(self, user_id: str) -> StaffMember:
        if self.down:
            raise PeerUnavailableError("identity: ConnectError")
        if not user_id.startswith("medical_worker-"):
            raise PeerRefusedError("identity: 404")
        return StaffMember(user_id, "medical_worker", CLINIC, WORKER_NAME)

    async def employment(self, application_id: str) -> Employment:
        self.calls += 1
        if self.down:
            raise PeerUnavailableError("applications: ConnectError")
        found = self.employments.get(application_id)
        if found is None:
            raise PeerRefusedError("applications: 404")
        return found


class Registry:
    """The registry of medical organisations, as deploy/local/registries has them."""

    def __init__(self) -> None:
        both = frozenset({"preliminary", "periodic"})
        self.organisations = {
            CLINIC: MedicalOrganisation(CLINIC, "ГБУЗ «Городская поликлиника № 1»", "77", both),
            OTHER_CLINIC: MedicalOrganisation(OTHER_CLINIC, "БУ «Сургутская больница»", "86", both),
            PERIODIC_ONLY: MedicalOrganisation(
                PERIODIC_ONLY, "ООО «Профосмотр»", "77", frozenset({"periodic"})
            ),
        }

    def get(self, ogrn: str) -> MedicalOrganisation | None:
        return self.organisations.get(ogrn)


# --- the store ---------------------------------------------------------------------------------


@dataclass
class FakeLimits:
    """Fixed-window counters, as ``emk_common.limits.RateLimits`` keeps them."""

    clock: FakeClock
    counts: dict[str, int] = field(default_factory=dict)

    def _window(self, bucket: str, key: str, window: timedelta) -> tuple[str, datetime]:
        seconds = int(window.total_seconds())
        start = int(self.clock().timestamp()) // seconds * seconds
        return f"{bucket}:{key}:{start}", datetime.fromtimestamp(start + seconds, UTC)

    async def hit(self, bucket: str, key: str, *, limit: int, window: timedelta) -> float | None:
        counter, end = self._window(bucket, key, window)
        self.counts[counter] = self.counts.get(counter, 0) + 1
        if self.counts[counter] > limit:
            return max(1.0, (end - self.clock()).total_seconds())
        return None

    async def forgive(self, bucket: str, key: str, *, window: timedelta) -> None:
        counter, _ = self._window(bucket, key, window)
        self.counts[counter] = self.counts.get(counter, 0) - 1


@dataclass
class FakeAccessLog(MemoryAccessLog):
    subject: str = "book"

    def actions(self, book_id: str) -> list[tuple[str, str, str | None]]:
        """(actor, action, reason) of a book's entries, oldest first."""
        return [
            (e["actor_id"], e["action"], e["reason"])
            for e in self.entries
            if e["book_id"] == book_id
        ]


@dataclass
class VisitCodeEntry:
    book_id: str
    expires_at: datetime
    used_at: datetime | None = None


@dataclass
class MemoryStore:
    """``ports.Store`` in memory. Books are kept with their records; a read without
    ``records`` leaves them out, as the MongoDB store does."""

    clock: FakeClock
    books: dict[str, Book] = field(default_factory=dict)
    events: list[EventData] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)
    keys: dict[str, SigningKey] = field(default_factory=dict)
    visit_codes: dict[str, VisitCodeEntry] = field(default_factory=dict)
    shares: dict[str, Share] = field(default_factory=dict)  # by code
    # Each share's public card, as the store keeps it: written with the share and rewritten
    # by the book's writes (never made up at read time).
    cards: dict[str, PublicCard] = field(default_factory=dict)  # by share id
    checks: dict[str, list[datetime]] = field(default_factory=dict)  # by share id
    opened: dict[str, list[str]] = field(default_factory=dict)
    deactivated: dict[str, datetime] = field(default_factory=dict)
    limits: FakeLimits = field(init=False)
    access_log: FakeAccessLog = field(default_factory=FakeAccessLog)
    # Someone else's action, run once just before the store's next write (of a book, a new
    # book, or a worker's opened books): it lands between a use case's read and its write.
    meanwhile: Callable[[], Awaitable[Any]] | None = None

    def __post_init__(self) -> None:
        self.limits = FakeLimits(self.clock)

    def events_of(self, book_id: str) -> list[EventData]:
        return [e for e in self.events if getattr(e, "book_id", None) == book_id]

    async def _interleave(self) -> None:
        if self.meanwhile is not None:
            action, self.meanwhile = self.meanwhile, None
            await action()

    # --- books ---------------------------------------------------------------------------

    @staticmethod
    def _as_read(book: Book, records: bool) -> Book:
        return book if records else replace(book, records=(), records_loaded=False)

    async def get(self, book_id: str, *, records: bool = False) -> Book | None:
        book = self.books.get(book_id)
        return None if book is None else self._as_read(book, records)

    async def of_holder(self, holder_id: str, *, records: bool = False) -> Book | None:
        book = next((b for b in self.books.values() if b.holder_id == holder_id), None)
        return None if book is None else self._as_read(book, records)

    async def shown(self, book_id: str) -> tuple[Book, str] | None:
        book = self.books.get(book_id)
        if book is None:
            return None
        return self._as_read(book, False), record_lists(book.current_records())

    async def shown_of_holder(self, holder_id: str) -> tuple[Book, str] | None:
        book = await self.of_holder(holder_id)
        return None if book is None else await self.shown(book.id)

    async def by_identifiers(self, number: str, snils: str) -> Book | None:
        digits = "".join(ch for ch in snils if ch.isdigit())
        for book in self.books.values():
            if book.number == number and book.holder.snils == digits:
                return self._as_read(book, False)
        return None

    async def next_sequence(self, region_code: str, year: int) -> int:
        counter = f"{region_code}:{year}"
        self.sequences[counter] = self.sequences.get(counter, 0) + 1
        return self.sequences[counter]

    async def insert(self, book: Book, events: Iterable[EventData], today: date) -> None:
        await self._interleave()
        if any(
            b.holder_id == book.holder_id or b.number == book.number for b in self.books.values()
        ):
            raise HolderHasBookError(book.holder_id)
        self.books[book.id] = book
        self.events.extend(events)

    async def apply(self, book: Book, change: Change, today: date) -> bool:
        await self._interleave()
        stored = self.books.get(book.id)
        if stored is None or stored.version != book.version:
            return False
        records = stored.records
        if change.record is not None:
            if any(r.record_id == change.record.record_id for r in records):
                raise DuplicateRecordError(change.record.record_id)
            records = (*records, change.record)
        grants = stored.grants
        if change.grant is not None:
            extended = any(g.id == change.grant.id for g in grants)
            grants = (
                tuple(change.grant if g.id == change.grant.id else g for g in grants)
                if extended
                else (*grants, change.grant)
            )
        if change.ended_grants:
            grants = tuple(
                replace(g, ended_at=change.ended_at, ended_by=change.ended_by)
                if g.id in change.ended_grants
                else g
                for g in grants
            )
        self.books[book.id] = replace(
            stored,
            records=records,
            positions=stored.positions + ((change.position,) if change.position else ()),
            grants=grants,
            basis=change.basis or stored.basis,
            published=change.published or stored.published,
            version=stored.version + 1,
        )
        self.events.extend(change.events)
        self._rewrite_cards(self.books[book.id])
        return True

    def _rewrite_cards(self, book: Book) -> None:
        for share in self.shares.values():
            if share.book_id == book.id:
                self.cards[share.id] = public_card(book)

    async def refresh_holder(self, book: Book, holder: Holder) -> bool:
        stored = self.books.get(book.id)
        if stored is None or stored.version != book.version:
            return False
        self.books[book.id] = replace(stored, holder=holder, version=stored.version + 1)
        self._rewrite_cards(self.books[book.id])
        return True

    # --- medical workers -----------------------------------------------------------------

    async def opened_by(self, worker_id: str, book_id: str) -> None:
        opened = self.opened.setdefault(worker_id, [])
        if book_id not in opened:
            opened.append(book_id)
        await self._interleave()

    async def granted_by(self, worker_id: str) -> list[Book]:
        return [self._as_read(self.books[b], False) for b in self.opened.get(worker_id, [])]

    async def deactivate_worker(self, worker_id: str, at: datetime) -> None:
        self.deactivated[worker_id] = min(at, self.deactivated.get(worker_id, at))

    async def is_deactivated(self, worker_id: str) -> bool:
        return worker_id in self.deactivated

    # --- signing keys --------------------------------------------------------------------

    async def key(self, key_id: str) -> SigningKey | None:
        return self.keys.get(key_id)

    async def register_key(self, key: SigningKey, now: datetime) -> SigningKey:
        if key.id in self.keys:
            return self.keys[key.id]
        for other in list(self.keys.values()):
            if other.worker_id == key.worker_id and other.state == "live":
                self.keys[other.id] = replace(other, state="superseded")
        self.keys[key.id] = key
        return key

    async def revoke_key(self, key_id: str, by: str, now: datetime) -> None:
        key = self.keys.get(key_id)
        if key is not None and key.state != "revoked":
            self.keys[key_id] = replace(key, state="revoked", revoked_at=now)

    async def revoke_keys_of(self, worker_id: str, by: str, now: datetime) -> None:
        for key in list(self.keys.values()):
            if key.worker_id == worker_id:
                await self.revoke_key(key.id, by, now)

    # --- visit codes ---------------------------------------------------------------------

    async def add_visit_code(
        self, code: str, book_id: str, now: datetime, expires_at: datetime
    ) -> None:
        assert code not in self.visit_codes
        self.visit_codes[code] = VisitCodeEntry(book_id, expires_at)

    async def use_visit_code(self, code: str, now: datetime) -> str | None:
        entry = self.visit_codes.get(code)
        if entry is None or entry.used_at is not None or entry.expires_at <= now:
            return None
        entry.used_at = now
        return entry.book_id

    # --- share codes ---------------------------------------------------------------------

    async def add_share(self, book: Book, share: Share, events: Iterable[EventData]) -> bool:
        assert share.code not in self.shares
        stored = self.books.get(book.id)
        if stored is None or stored.version != book.version:
            return False
        self.books[book.id] = replace(stored, shared=True, version=stored.version + 1)
        self.shares[share.code] = share
        self.cards[share.id] = public_card(stored)
        self.events.extend(events)
        return True

    async def share_by_code(self, code: str) -> Share | None:
        return self.shares.get(code)

    async def share_for_check(self, code: str) -> tuple[Share, PublicCard | None] | None:
        share = self.shares.get(code)
        return None if share is None else (share, self.cards.get(share.id))

    async def shares_of(self, holder_id: str) -> list[Share]:
        mine = [s for s in self.shares.values() if s.holder_id == holder_id]
        return sorted(mine, key=lambda s: s.created_at, reverse=True)

    async def shared_with(self, employer_inn: str, now: datetime) -> list[Share]:
        return [s for s in self.shares.values() if s.employer_inn == employer_inn and s.active(now)]

    async def revoke_share(self, share: Share, events: Iterable[EventData]) -> bool:
        if self.shares[share.code].revoked_at is not None:
            return False
        self.shares[share.code] = share
        self.events.extend(events)
        return True

    async def log_check(
        self, share: Share, now: datetime, today: date, events: Iterable[EventData]
    ) -> None:
        stored = self.shares[share.code]
        if stored.told_on != today:
            self.shares[share.code] = replace(stored, told_on=today)
            self.events.extend(events)
        self.checks.setdefault(share.id, []).append(now)

    async def checks_of(self, share_ids: Iterable[str]) -> dict[str, ShareChecks]:
        logged = {share_id: self.checks.get(share_id, []) for share_id in share_ids}
        return {
            share_id: ShareChecks(count=len(times), recent=tuple(times[-RECENT_CHECKS:]))
            for share_id, times in logged.items()
        }
