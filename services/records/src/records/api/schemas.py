"""Request bodies, and what the API shows of a book (JSON built from the aggregate)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import emk_identifiers as ids
from emk_common.field_errors import RequestBody
from records.domain import keys
from records.domain.book import Book, Grant
from records.domain.validity import STATUS_LABELS, public_status
from records.domain.vocabulary import DISEASES, DUE_LABELS

_NUMBER = re.compile(r"\d{2}-\d{2}-\d{6}-\d{2}")


# --- requests -----------------------------------------------------------------------------------


class SignedRecord(RequestBody):
    # Kept exactly as received: the signature covers its RFC 8785 form, not a re-serialised
    # model — so nothing is trimmed (RequestBody trims text, keys of a dict included).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    record: dict[str, Any]
    key_id: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=200)


class Lookup(RequestBody):
    """Either the СНИЛС and the book's number the person presents, or their visit code."""

    snils: str | None = Field(default=None, max_length=20)
    number: str | None = Field(default=None, max_length=20)
    visit_code: str | None = Field(default=None, min_length=10, max_length=40)

    @field_validator("snils")
    @classmethod
    def _snils(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return ids.snils(value)
        except ids.InvalidIdentifier as exc:
            raise ids.as_pydantic_error(exc) from None

    @field_validator("number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        if value is not None and not _NUMBER.fullmatch(value):
            raise ValueError("Номер книжки в формате RR-NN-NNNNNN-YY, например 86-01-027970-25")
        return value

    @field_validator("visit_code")
    @classmethod
    def _visit_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.replace("-", "").replace(" ", "").upper()
        if not re.fullmatch(r"[A-Z2-7]{10,32}", code):
            raise ValueError("Код визита состоит из латинских букв и цифр 2–7")
        return code

    @model_validator(mode="after")
    def _one_way(self) -> Lookup:
        by_identifiers = self.snils is not None or self.number is not None
        if self.visit_code is not None and by_identifiers:
            raise ValueError("Укажите либо СНИЛС и номер книжки, либо код визита")
        if self.visit_code is None and (self.snils is None or self.number is None):
            raise ValueError("Укажите СНИЛС и номер книжки (оба) или код визита")
        return self


class SigningKey(RequestBody):
    public_key: str = Field(min_length=40, max_length=64)


# --- answers ------------------------------------------------------------------------------------
# The book page is rendered by hand (its record lists are kept rendered, see records.views);
# these models describe it in the OpenAPI document.


class _Shown(BaseModel):
    model_config = ConfigDict(extra="allow")


class HolderShown(_Shown):
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date


class PositionShown(_Shown):
    employer_name: str | None
    employer_inn: str | None
    position: str | None
    department: str | None
    since: date


class SignatureShown(_Shown):
    key_id: str
    value: str = Field(description="Ed25519, base64url without padding")
    canonical_sha256: str


class RecordShown(_Shown):
    """The record exactly as signed (``record_id``, ``book_id``, ``kind``, ``date`` and the
    fields of its kind), and around it what the service adds: drop ``id``, ``version``,
    ``labels``, ``organization``, ``author``, ``signature`` and ``recorded_at`` to verify."""

    id: str
    version: int
    record_id: str
    kind: str
    date: date
    labels: dict[str, str]
    organization: dict[str, str]
    author: dict[str, str | None]
    signature: SignatureShown
    recorded_at: datetime


class DueShown(_Shown):
    kind: str
    kind_label: str
    item: str | None
    item_label: str | None
    item_id: str
    due_date: date


class BookPage(_Shown):
    id: str
    number: str
    status: str = Field(description="valid | expiring | expired | suspended")
    status_label: str
    holder: HolderShown
    issued_at: datetime
    positions: list[PositionShown]
    exams: list[RecordShown]
    vaccinations: list[RecordShown]
    lab_results: list[RecordShown]
    certifications: list[RecordShown]
    due: list[DueShown]
    valid_until: date | None


class StatusPage(_Shown):
    """What an operator sees: ``status`` is valid | expiring | not_valid."""

    id: str
    number: str
    status: str
    status_label: str
    valid_until: date | None
    due: list[dict[str, Any]]


def book_view(book: Book, today: date) -> dict[str, Any]:
    """The book, as its holder (or a medical worker with a grant) reads it — but for its
    records' lists, which are rendered when written (``records.views``) and joined to this."""
    status = book.status(today)
    holder = book.holder
    return {
        "id": book.id,
        "number": book.number,
        "status": status,
        "status_label": STATUS_LABELS[status],
        "holder": {
            "last_name": holder.last_name,
            "first_name": holder.first_name,
            "middle_name": holder.middle_name,
            "birth_date": holder.birth_date,
        },
        "issued_at": book.issued_at,
        "positions": [
            {
                "employer_name": p.employer_name,
                "employer_inn": p.employer_inn,
                "position": p.position,
                "department": p.department,
                "since": p.since,
            }
            for p in book.positions
        ],
        "due": [
            {
                "kind": d.kind,
                "kind_label": DUE_LABELS[d.kind],
                "item": d.item,
                "item_label": DISEASES.get(d.item) if d.item else None,
                "item_id": d.item_id,
                "due_date": d.due_date,
            }
            for d in book.basis.due
        ],
        "valid_until": book.valid_until,
    }


def status_view(book: Book, today: date) -> dict[str, Any]:
    """What an operator sees: validity and due dates, never the medical content (and never
    «suspended», which would reveal an «Не годен» conclusion)."""
    status = public_status(book.status(today))
    return {
        "id": book.id,
        "number": book.number,
        "status": status,
        "status_label": STATUS_LABELS[status],
        # Not valid: no date, whichever the reason (a missing one would tell «Не годен»).
        "valid_until": book.valid_until if status != "not_valid" else None,
        # Exams and attestation only: a revaccination's period tells the disease.
        "due": [
            {"kind": d.kind, "kind_label": DUE_LABELS[d.kind], "due_date": d.due_date}
            for d in book.basis.due
            if d.kind != "vaccination"
        ],
    }


def lookup_view(book: Book) -> LookupOut:
    holder = book.holder
    return LookupOut(
        book_id=book.id,
        number=book.number,
        holder=HolderOut(
            last_name=holder.last_name,
            first_name=holder.first_name,
            middle_name=holder.middle_name,
            birth_date=holder.birth_date,
        ),
    )


def grant_view(grant: Grant, now: datetime) -> GrantOut:
    return GrantOut(
        id=grant.id,
        organization=OrganizationOut(id=grant.organization.id, name=grant.organization.name),
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        via=grant.via,
        active=grant.active(now),
        ended_at=grant.ended_at,
    )


def key_view(key: keys.SigningKey) -> dict[str, Any]:
    return {
        "key_id": key.id,
        "public_key": key.public_key,
        "algorithm": key.algorithm,
        "worker": {"user_id": key.worker_id, "name": key.worker_name},
        "organization": {"id": key.organization_id, "name": key.organization_name},
        "state": key.state,
        "registered_at": key.registered_at,
        "revoked_at": key.revoked_at,
    }


# --- response models of the holder's and the worker's small answers --------------------------


class VisitCodeOut(BaseModel):
    code: str
    expires_at: datetime


class OrganizationOut(BaseModel):
    id: str
    name: str


class GrantOut(BaseModel):
    id: str
    organization: OrganizationOut
    granted_at: datetime
    expires_at: datetime
    via: str
    active: bool
    ended_at: datetime | None


class GrantPage(BaseModel):
    items: list[GrantOut]


class AccessEntryOut(BaseModel):
    at: datetime
    actor_id: str
    actor_role: str
    organization_id: str | None
    action: str
    reason: str | None


class AccessLogPage(BaseModel):
    items: list[AccessEntryOut]


class HolderOut(BaseModel):
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date


class LookupOut(BaseModel):
    book_id: str
    number: str
    holder: HolderOut
