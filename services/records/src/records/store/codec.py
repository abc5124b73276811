"""The records' documents <-> the aggregate: the field names of every collection, and what is
sealed (encrypted, each under a context naming its book and purpose) or indexed blindly."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import rfc8785

from emk_common import catalog
from emk_common.crypto import BlindIndex, FieldCipher
from records.domain.book import (
    Author,
    Book,
    Grant,
    Holder,
    Organization,
    Position,
    Published,
    RecordVersion,
)
from records.domain.dates import start_of
from records.domain.keys import SigningKey
from records.domain.shares import PublicCard
from records.domain.validity import Basis, Due

Doc = dict[str, Any]


def normalised_snils(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


class Codec:
    def __init__(self, cipher: FieldCipher, index: BlindIndex) -> None:
        self._cipher = cipher
        self._index = index

    # --- blind indexes -------------------------------------------------------------------

    def snils_index(self, snils: str) -> str:
        # Its own purpose: the records' index cannot be joined with identity's.
        return self._index.index(normalised_snils(snils), purpose="records-snils")

    def visit_code_index(self, code: str) -> str:
        return self._index.index(code, purpose="visit-code")

    def share_code_index(self, code: str) -> str:
        return self._index.index(code, purpose="share-code")

    def seal_share_code(self, share_id: str, code: str) -> str:
        # Kept (encrypted) so that its holder can see it again; found by its blind index.
        return self._cipher.encrypt(code, context=f"records:share:{share_id}")

    def open_share_code(self, share_id: str, sealed: str) -> str:
        return self._cipher.decrypt(sealed, context=f"records:share:{share_id}")

    def seal_card(self, book_id: str, card: PublicCard) -> str:
        """The public card kept on each of a book's shares (the same value on all of them)."""
        data = {
            "holder": card.holder,
            "book_number": card.book_number,
            "valid_until": _iso(card.valid_until),
            "next_due": _iso(card.next_due),
        }
        return self._cipher.encrypt(
            json.dumps(data, ensure_ascii=False), context=_card_context(book_id)
        )

    def open_card(self, book_id: str, sealed: str) -> PublicCard:
        data = json.loads(self._cipher.decrypt(sealed, context=_card_context(book_id)))
        return PublicCard(
            holder=data["holder"],
            book_number=data["book_number"],
            valid_until=_day(data["valid_until"]),
            next_due=_day(data["next_due"]),
        )

    # --- books ---------------------------------------------------------------------------

    def book(self, doc: Doc) -> Book:
        """The book from its document, without its record versions (see ``Books._loaded``)."""
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
            basis=basis_of_doc(basis),
            published=Published(
                status=published["status"],
                due=tuple(catalog.DueItem.model_validate(d) for d in published["due"]),
            ),
            version=doc["version"],
            grants=tuple(_grant(g) for g in doc.get("grants", [])),
            shared=bool(doc.get("shared")),
        )

    def seal_holder(self, book_id: str, holder: Holder) -> str:
        data = {**asdict(holder), "birth_date": holder.birth_date.isoformat()}
        return self._cipher.encrypt(
            json.dumps(data, ensure_ascii=False), context=_holder_context(book_id)
        )

    def seal_shown(self, book_id: str, lists: str) -> bytes:
        # JSON of records compresses about tenfold: a tenth of the bytes to store and read.
        packed = zlib.compress(lists.encode(), level=1)
        return self._cipher.encrypt_bytes(packed, context=_shown_context(book_id))

    def open_shown(self, book_id: str, sealed: bytes) -> str:
        return zlib.decompress(
            self._cipher.decrypt_bytes(sealed, context=_shown_context(book_id))
        ).decode()

    def seal_basis(self, book_id: str, basis: Basis) -> str:
        return self._cipher.encrypt(
            json.dumps(basis_doc(basis), ensure_ascii=False), context=_basis_context(book_id)
        )

    # --- record versions -----------------------------------------------------------------

    def version_doc(self, book_id: str, record: RecordVersion) -> Doc:
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

    def record(self, book_id: str, doc: Mapping[str, Any]) -> RecordVersion:
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


# --- signing keys (in the clear: a public key is public) --------------------------------------


def key_doc(key: SigningKey) -> Doc:
    return {
        "_id": key.id,
        "public_key": key.public_key,
        "algorithm": key.algorithm,
        "worker_id": key.worker_id,
        "worker_name": key.worker_name,
        "organization_id": key.organization_id,
        "organization_name": key.organization_name,
        "state": key.state,
        "registered_at": key.registered_at,
    }


def signing_key(doc: Mapping[str, Any]) -> SigningKey:
    return SigningKey(
        id=doc["_id"],
        public_key=doc["public_key"],
        algorithm=doc["algorithm"],
        worker_id=doc["worker_id"],
        worker_name=doc.get("worker_name"),
        organization_id=doc["organization_id"],
        organization_name=doc.get("organization_name"),
        state=doc["state"],
        registered_at=doc["registered_at"],
        revoked_at=doc.get("revoked_at"),
    )


# --- parts of a book's document ------------------------------------------------------------


def check_at(day: date | None) -> datetime | None:
    return start_of(day).astimezone(UTC) if day is not None else None


def position_doc(position: Position) -> Doc:
    return {**asdict(position), "since": position.since.isoformat()}


def published_doc(published: Published) -> Doc:
    return {
        "status": published.status,
        "due": [d.model_dump(mode="json") for d in published.due],
    }


def grant_doc(grant: Grant) -> Doc:
    return {**asdict(grant), "organization": asdict(grant.organization)}


def _grant(doc: Mapping[str, Any]) -> Grant:
    return Grant(**{**doc, "organization": Organization(**doc["organization"])})


def _card_context(book_id: str) -> str:
    return f"records:{book_id}:card"


def _holder_context(book_id: str) -> str:
    return f"records:{book_id}:holder"


def _shown_context(book_id: str) -> str:
    return f"records:{book_id}:shown"


def _basis_context(book_id: str) -> str:
    return f"records:{book_id}:basis"


def _record_context(book_id: str, record_id: str) -> str:
    return f"records:{book_id}:record:{record_id}"


def basis_doc(basis: Basis) -> Doc:
    return {
        "suspended": basis.suspended,
        "exam_due": _iso(basis.exam_due),
        "attestation_due": _iso(basis.attestation_due),
        "due": [
            {"kind": d.kind, "item_id": d.item_id, "due_date": d.due_date.isoformat(),
             "item": d.item}
            for d in basis.due
        ],
    }  # fmt: skip


def basis_of_doc(doc: Mapping[str, Any]) -> Basis:
    return Basis(
        suspended=bool(doc["suspended"]),
        exam_due=_day(doc.get("exam_due")),
        attestation_due=_day(doc.get("attestation_due")),
        due=tuple(
            Due(d["kind"], d["item_id"], date.fromisoformat(d["due_date"]), d.get("item"))
            for d in doc["due"]
        ),
    )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
