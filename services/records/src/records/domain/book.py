"""The medical book: its holder, positions and signed records, and the decisions taken on
it — issue, add a position, add (or correct) a record, look at it again as days pass.

Pure: each decision returns a :class:`Change` (what to add, the recomputed validity, the
events); the store writes it in one write conditional on the version it was taken on.
Nothing is ever deleted or overwritten: a correction is a new version of its record.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from emk_common import catalog
from emk_common.events import EventData
from emk_common.field_errors import FieldErrors
from records.domain.records import CheckedRecord
from records.domain.validity import (
    Basis,
    Current,
    PublicStatus,
    Status,
    basis_of,
    next_change,
    public_status,
    status_at,
    valid_until,
)


class DuplicateRecordError(Exception):
    """This record id is in the book already: the same signed record sent twice (409)."""


@dataclass(frozen=True)
class Holder:
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    snils: str

    @property
    def masked_name(self) -> str:
        """«Иванов И. И.»: what the public check shows."""
        initials = " ".join(f"{part[0]}." for part in (self.first_name, self.middle_name) if part)
        return f"{self.last_name} {initials}".strip()


@dataclass(frozen=True)
class Position:
    application_id: str
    employer_name: str | None
    employer_inn: str | None
    position: str | None
    department: str | None
    since: date


@dataclass(frozen=True)
class Author:
    user_id: str
    name: str | None


@dataclass(frozen=True)
class Organization:
    id: str  # the ОГРН
    name: str


@dataclass(frozen=True)
class RecordVersion:
    id: str  # the record's id: its first version's record_id
    record_id: str  # this version's own id (inside what was signed)
    version: int
    kind: str
    date: date
    replaces: str | None
    recorded_at: datetime
    author: Author
    organization: Organization
    key_id: str
    signature: str
    canonical_sha256: str
    content: dict[str, Any]  # the record exactly as signed

    def current(self) -> Current:
        return Current(self.id, self.kind, self.date, self.recorded_at, self.content)


GrantVia = Literal["identifiers", "visit_code"]


@dataclass(frozen=True)
class Grant:
    """The book is open to a medical organisation: a lookup by a worker of it opened it."""

    id: str
    organization: Organization
    granted_by: str
    granted_at: datetime
    expires_at: datetime
    via: GrantVia
    ended_at: datetime | None = None
    ended_by: str | None = None

    def active(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


@dataclass(frozen=True)
class Published:
    """What the topic was last told: the public status and the due list."""

    status: PublicStatus
    due: tuple[catalog.DueItem, ...]


@dataclass(frozen=True)
class Book:
    id: str
    holder_id: str
    number: str
    issued_at: datetime
    issued_on: date
    holder: Holder
    positions: tuple[Position, ...]
    records: tuple[RecordVersion, ...]
    basis: Basis
    published: Published
    version: int
    grants: tuple[Grant, ...] = ()
    # False for a book read only to be shown or checked (its record versions are not
    # loaded); deciding on its records then is a programming error, caught at once.
    records_loaded: bool = True
    # Whether a share code was ever made for it: its shares keep a public card of it
    # (``shares.PublicCard``), which every change of what the card shows must rewrite.
    shared: bool = False

    def _records(self) -> tuple[RecordVersion, ...]:
        if not self.records_loaded:
            raise RuntimeError(f"book {self.id} was read without its records")
        return self.records

    def open_to(self, organization_id: str | None, now: datetime) -> bool:
        """Whether a medical organisation may read and write this book now."""
        return organization_id is not None and any(
            g.organization.id == organization_id and g.active(now) for g in self.grants
        )

    def current_records(self) -> list[RecordVersion]:
        """The latest version of every record, in the order the records were first made."""
        latest: dict[str, RecordVersion] = {}
        for version in self._records():
            if version.id not in latest or version.version > latest[version.id].version:
                latest[version.id] = version
        return list(latest.values())

    def validity_inputs(self) -> list[Current]:
        """What validity reads of each record: its current version, ordered among the others
        by when the record was first made — correcting an old exam does not make it the
        latest one."""
        first: dict[str, datetime] = {}
        for version in self._records():
            first[version.id] = min(first.get(version.id, version.recorded_at), version.recorded_at)
        return [replace(v.current(), recorded_at=first[v.id]) for v in self.current_records()]

    def history(self, record_id: str) -> list[RecordVersion]:
        """Every version of a record, oldest first (empty: no such record)."""
        chain = self.logical_id(record_id)
        return sorted((v for v in self._records() if v.id == chain), key=lambda v: v.version)

    def logical_id(self, record_id: str) -> str | None:
        """The record a version id (or the record's own id) belongs to."""
        for version in self._records():
            if record_id in (version.id, version.record_id):
                return version.id
        return None

    def status(self, today: date) -> Status:
        return status_at(self.basis, today)

    def next_check(self, today: date) -> date | None:
        return next_change(self.basis, today)

    @property
    def valid_until(self) -> date | None:
        return valid_until(self.basis)


@dataclass
class Change:
    """What a decision adds to a book, and the events it raises."""

    events: list[EventData] = field(default_factory=list)
    record: RecordVersion | None = None
    position: Position | None = None
    basis: Basis | None = None
    published: Published | None = None
    grant: Grant | None = None
    ended_grants: tuple[str, ...] = ()
    ended_at: datetime | None = None
    ended_by: str | None = None


def format_number(region_code: str, issuing_point: str, sequence: int, year: int) -> str:
    """``RR-NN-NNNNNN-YY``: the holder's region, the issuing point, a sequence per region and
    year, the year."""
    if not (len(region_code) == 2 and region_code.isdigit()):
        raise ValueError("a region code is two digits")
    if not (len(issuing_point) == 2 and issuing_point.isdigit()):
        raise ValueError("an issuing point is two digits")
    if not 1 <= sequence <= 999_999:
        raise ValueError("the sequence of a region and year is used up")
    return f"{region_code}-{issuing_point}-{sequence:06d}-{year % 100:02d}"


def issue(
    *,
    book_id: str,
    holder_id: str,
    number: str,
    holder: Holder,
    position: Position,
    now: datetime,
    today: date,
) -> tuple[Book, list[EventData]]:
    """A new book. Its first status is not a change; its first due list is news."""
    basis = basis_of((), today)
    due = topic_due(basis)
    book = Book(
        id=book_id, holder_id=holder_id, number=number, issued_at=now, issued_on=today,
        holder=holder, positions=(position,), records=(), basis=basis,
        published=Published(public_status(status_at(basis, today)), due), version=1,
    )  # fmt: skip
    ids = {"book_id": book_id, "holder_id": holder_id}
    return book, [
        catalog.MedicalBookIssued(**ids, number=number, application_id=position.application_id),
        catalog.BookDueDatesChanged(**ids, due=list(due)),
    ]


def add_position(book: Book, position: Position) -> Change | None:
    """A further approved application of the holder; None when this one is in already."""
    if any(p.application_id == position.application_id for p in book.positions):
        return None
    event = catalog.PositionAdded(
        book_id=book.id, holder_id=book.holder_id, number=book.number,
        application_id=position.application_id,
    )  # fmt: skip
    return Change(events=[event], position=position)


def add_record(
    book: Book,
    checked: CheckedRecord,
    *,
    author: Author,
    organization: Organization,
    key_id: str,
    signature: str,
    canonical_sha256: str,
    now: datetime,
    today: date,
    errors: FieldErrors,
) -> Change | None:
    """A new record, or a new version of one (``replaces``). None with ``errors`` when the
    correction does not fit the book; :class:`DuplicateRecordError` for a repeated id."""
    if book.logical_id(checked.record_id) is not None:
        raise DuplicateRecordError(checked.record_id)
    chain, version = checked.record_id, 1
    if checked.replaces is not None:
        replaced = book.logical_id(checked.replaces)
        if replaced is None:
            errors.add("record.replaces", "not_found", "исправляемой записи нет в этой книжке")
            return None
        previous = book.history(replaced)[-1]
        if previous.kind != checked.kind:
            errors.add(
                "record.kind", "mismatch", "исправление должно быть того же вида, что и запись"
            )
            return None
        chain, version = replaced, previous.version + 1
    record = RecordVersion(
        id=chain, record_id=checked.record_id, version=version, kind=checked.kind,
        date=checked.date, replaces=checked.replaces, recorded_at=now, author=author,
        organization=organization, key_id=key_id, signature=signature,
        canonical_sha256=canonical_sha256, content=dict(checked.content),
    )  # fmt: skip
    after = replace(book, records=(*book.records, record))
    change = _revalidated(after, today)
    change.record = record
    change.events.insert(0, _recorded(book, record))
    return change


def open_to(
    book: Book,
    *,
    grant_id: str,
    organization: Organization,
    worker_id: str,
    via: GrantVia,
    now: datetime,
    days: int,
) -> Change | None:
    """A lookup by a worker opens the book to their organisation for ``days`` days. An
    organisation's grant that is still open is extended (the same grant, the holder told
    again) — unless it was given within the last day: then nothing changes, so repeated
    lookups neither grow the book nor flood its holder."""
    current = next(
        (g for g in book.grants if g.organization.id == organization.id and g.active(now)), None
    )
    if current is not None:
        if now - current.granted_at < timedelta(days=1):
            return None
        grant_id = current.id
    grant = Grant(
        id=grant_id, organization=organization, granted_by=worker_id, granted_at=now,
        expires_at=now + timedelta(days=days), via=via,
    )  # fmt: skip
    event = catalog.BookAccessGranted(
        book_id=book.id, holder_id=book.holder_id, grant_id=grant_id,
        organization_id=organization.id, organization_name=organization.name,
        granted_by=worker_id, expires_at=grant.expires_at,
        via=via,
    )  # fmt: skip
    return Change(events=[event], grant=grant)


def end_grants(book: Book, grant_ids: list[str], *, by: str, now: datetime) -> Change | None:
    """The holder (or a deactivation) ends grants; None when none of them is active."""
    ending = [g for g in book.grants if g.id in grant_ids and g.active(now)]
    if not ending:
        return None
    events: list[EventData] = [
        catalog.BookAccessEnded(
            book_id=book.id,
            holder_id=book.holder_id,
            grant_id=g.id,
            organization_id=g.organization.id,
            ended_by=by,
        )
        for g in ending
    ]
    return Change(
        events=events, ended_grants=tuple(g.id for g in ending), ended_at=now, ended_by=by
    )


def recheck(book: Book, today: date) -> Change:
    """What the calendar alone changed since the topic was last told (maybe nothing): the
    records are as they were, so their basis is the stored one."""
    return _revalidated(book, today, book.basis)


def _revalidated(book: Book, today: date, basis: Basis | None = None) -> Change:
    if basis is None:
        basis = basis_of(book.validity_inputs(), book.issued_on, salt=book.id)
    status = public_status(status_at(basis, today))
    due = topic_due(basis)
    ids = {"book_id": book.id, "holder_id": book.holder_id}
    change = Change(basis=basis, published=Published(status, due))
    if status != book.published.status:
        # Not valid: no date either, whichever the reason (a missing date would tell «Не годен»).
        until = valid_until(basis) if status != "not_valid" else None
        change.events.append(catalog.BookValidityChanged(**ids, status=status, valid_until=until))
    if due != book.published.due:
        change.events.append(catalog.BookDueDatesChanged(**ids, due=list(due)))
    return change


def topic_due(basis: Basis) -> tuple[catalog.DueItem, ...]:
    """The due list as the topic carries it: no disease, result or conclusion."""
    return tuple(
        catalog.DueItem(item_id=d.item_id, kind=d.kind, due_date=d.due_date) for d in basis.due
    )


def _recorded(book: Book, record: RecordVersion) -> EventData:
    common: dict[str, Any] = {
        "book_id": book.id, "holder_id": book.holder_id, "record_id": record.id,
        "record_version": record.version, "recorded_by": record.author.user_id,
        "organization_id": record.organization.id,
    }  # fmt: skip
    if record.version > 1:
        return catalog.RecordCorrected(**common, record_kind=record.kind)
    events: dict[str, type[EventData]] = {
        "exam": catalog.ExamRecorded,
        "vaccination": catalog.VaccinationRecorded,
        "lab_result": catalog.LabResultRecorded,
        "certification": catalog.CertificationRecorded,
    }
    return events[record.kind](**common)
