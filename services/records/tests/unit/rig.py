"""The use cases wired on the fakes (``fakes.py``), as ``app.build`` wires them on the real
ports, and what the tests say with: people, signed records, sample records."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emk_common import catalog
from emk_common.auth import Principal, Role
from emk_testing import FakeClock
from records.adapters.ed25519 import Ed25519Scheme
from records.domain.book import Book
from records.ports import Employment
from records.service import Records
from records.settings import RecordsSettings

from .fakes import CLINIC, NOW, FakePeers, MemoryStore, Registry


def citizen(user_id: str | None = None) -> Principal:
    user_id = user_id or f"citizen-{uuid.uuid4().hex[:8]}"
    return Principal(user_id, "citizen", None, None, f"token-of-{user_id}")


def staff(
    role: Role, organization_id: str | None = None, *, auth_time: int | None = None
) -> Principal:
    user_id = f"{role}-{uuid.uuid4().hex[:8]}"
    return Principal(user_id, role, organization_id, None, f"token-of-{user_id}", auth_time)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- the rig -----------------------------------------------------------------------------------


@dataclass
class Signer:
    """A medical worker with a signing key (registered or not)."""

    who: Principal
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    key_id: str = ""

    @property
    def public_key(self) -> str:
        return b64(self.private_key.public_key().public_bytes_raw())

    def signature(self, record: dict[str, Any], key: Ed25519PrivateKey | None = None) -> str:
        return b64((key or self.private_key).sign(rfc8785.dumps(record)))


@dataclass
class Rig:
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))
    peers: FakePeers = field(default_factory=FakePeers)
    registry: Registry = field(default_factory=Registry)
    settings: RecordsSettings = field(default_factory=RecordsSettings)
    store: MemoryStore = field(init=False)
    records: Records = field(init=False)

    def __post_init__(self) -> None:
        self.store = MemoryStore(self.clock)
        self.records = Records(
            self.store,
            self.settings,
            people=self.peers,
            employments=self.peers,
            organisations=self.registry,
            scheme=Ed25519Scheme(),
            clock=self.clock,
        )

    def approval(self, holder: Principal, **employment: Any) -> catalog.ApplicationApproved:
        """An approved application of ``holder``, as applications would publish it."""
        if holder.user_id not in self.peers.holders:
            self.peers.person(holder.user_id)
        application_id = uuid.uuid4().hex
        self.peers.employments[application_id] = Employment(
            application_id, holder.user_id, employment.get("employer", "ООО «Ромашка»"),
            "7734567893", employment.get("position", "Повар"), None,
        )  # fmt: skip
        return catalog.ApplicationApproved(
            application_id=application_id, applicant_id=holder.user_id, number="2026-000001"
        )

    async def issued(
        self, holder: Principal | None = None, **person: Any
    ) -> tuple[Principal, Book]:
        """A citizen with a book, issued from an approval."""
        holder = holder or citizen()
        if person:
            self.peers.person(holder.user_id, **person)
        await self.records.issue(self.approval(holder))
        book = await self.store.of_holder(holder.user_id, records=True)
        assert book is not None
        return holder, book

    async def book(self, book_id: str) -> Book:
        book = await self.store.get(book_id, records=True)
        assert book is not None
        return book

    def worker(self, organization_id: str = CLINIC) -> Signer:
        return Signer(staff("medical_worker", organization_id, auth_time=self.signed_in_now()))

    def signed_in_now(self) -> int:
        return int(self.clock().timestamp())

    async def signer(self, organization_id: str = CLINIC) -> Signer:
        """A medical worker with a live signing key."""
        signer = self.worker(organization_id)
        key = await self.records.register_key(signer.who, signer.public_key)
        signer.key_id = key.id
        return signer

    async def open_book(self, signer: Signer, book: Book) -> Book:
        """A lookup by СНИЛС and number: the book opens to the worker's organisation."""
        return await self.records.lookup(
            signer.who, snils=book.holder.snils, number=book.number, visit_code=None
        )

    async def write(self, signer: Signer, book: Book, record: dict[str, Any], **kw: Any) -> Any:
        """The worker signs ``record`` and writes it; ``key_id``/``signature`` override."""
        return await self.records.add_record(
            signer.who, book.id, record, kw.get("key_id", signer.key_id),
            kw.get("signature", signer.signature(record)),
        )  # fmt: skip


def exam(book_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "record_id": str(uuid.uuid4()), "kind": "exam", "book_id": book_id,
        "exam_type": "periodic", "date": "2026-11-20",
        "specialists": ["терапевт", "дерматовенеролог"], "conclusion": "fit", **fields,
    }  # fmt: skip


def certification(book_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "record_id": str(uuid.uuid4()), "kind": "certification", "book_id": book_id,
        "category": "food", "date": "2026-11-21", "passed": True, **fields,
    }  # fmt: skip
