"""Records' API tests: the real app in this process (``build``), on the real MongoDB and Kafka.

Tokens are signed with the tests' own key, which the app trusts (``emk_testing``);
identity and applications are fakes of our own ports (``records.ports``) that answer as those
services would; the clock is the test's. The end-to-end suite runs the same service against
the real identity and applications.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from emk_common import catalog
from emk_devstack.stack import Stack
from emk_testing import Caller, TopicTap, trusting_verifier
from emk_testing import FakeClock as Clock
from records.app import build
from records.domain.book import Book, Holder
from records.ports import (
    Employment,
    HolderData,
    PeerUnavailableError,
    StaffMember,
)
from records.service import Records
from records.settings import RecordsSettings
from records.store import BookStore

from ..unit.fakes import CLINIC as CLINIC
from ..unit.fakes import OTHER_CLINIC as OTHER_CLINIC
from ..unit.fakes import PERIODIC_ONLY as PERIODIC_ONLY
from ..unit.fakes import WORKER_NAME, snils_for
from ..unit.fakes import FakePeers as StrictPeers


@dataclass
class FakePeers(StrictPeers):
    """The unit tests' identity and applications, made lenient: on the real Kafka the
    approvals of other suites' journeys arrive too, so a person or an application this
    fake does not know is made up, not refused; any staff member is a medical worker."""

    def person(self, user_id: str, *, region: str = "77", last_name: str = "Иванов") -> Holder:
        # Unique across the modules sharing the servers (the unit fakes count from 1).
        holder = Holder(
            last_name, "Иван", "Иванович", date(1990, 5, 17), snils_for(abs(hash(user_id)) % 10**8)
        )
        self.holders[user_id] = HolderData(holder, region)
        return holder

    async def holder(self, user_id: str) -> HolderData:
        if user_id not in self.holders and not self.down:
            self.person(user_id)
        return await super().holder(user_id)

    async def staff(self, user_id: str) -> StaffMember:
        if self.down:
            raise PeerUnavailableError("identity: ConnectError")
        return StaffMember(user_id, "medical_worker", CLINIC, WORKER_NAME)

    async def employment(self, application_id: str) -> Employment:
        if application_id not in self.employments:
            self.employments[application_id] = Employment(
                application_id, "?", "ООО «Ромашка»", "7734567893", "Повар", None
            )
        return await super().employment(application_id)


@dataclass
class Worker:
    """A medical worker with a registered signing key."""

    caller: Caller
    private_key: Ed25519PrivateKey
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return self.caller.headers

    def signed(
        self, record: dict[str, Any], key: Ed25519PrivateKey | None = None
    ) -> dict[str, Any]:
        signature = (key or self.private_key).sign(rfc8785.dumps(record))
        return {"record": record, "key_id": self.key_id, "signature": b64(signature)}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class RecordsApp:
    app: FastAPI
    peers: FakePeers
    clock: Clock

    @property
    def records(self) -> Records:
        service: Records = self.app.state.records
        return service

    @property
    def store(self) -> BookStore:
        """The service's store, on MongoDB (what the scheduler and the at-rest checks read)."""
        store = self.records.store
        assert isinstance(store, BookStore)
        return store

    def client(
        self, who: Caller | Worker | None = None, ip: str = "127.0.0.1"
    ) -> httpx.AsyncClient:
        """A client of the app; ``ip`` is the address it calls from (the public check's
        limits count per address)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(ip, 50000)),
            base_url="http://records",
            headers=who.headers if who else None,
            timeout=30,
        )

    async def issue(self, citizen: Caller | None = None, **person: Any) -> tuple[Caller, Book]:
        """An approved application of a (new) citizen, handled as the consumer would."""
        citizen = citizen or Caller.new()
        if citizen.user_id not in self.peers.holders:
            self.peers.person(citizen.user_id, **person)
        approved = catalog.ApplicationApproved(
            application_id=uuid.uuid4().hex, applicant_id=citizen.user_id, number="2026-000001"
        )
        await self.records.issue(approved)
        book = await self.records.store.of_holder(citizen.user_id)
        assert book is not None
        return citizen, book

    async def worker(self, organization: str = CLINIC) -> Worker:
        caller = Caller.new("medical_worker", organization)
        key = Ed25519PrivateKey.generate()
        async with self.client() as http:
            response = await http.put(
                "/api/v1/records/me/signing-key",
                json={"public_key": b64(key.public_key().public_bytes_raw())},
                headers=caller.headers_signed_in_at(int(self.clock().timestamp())),
            )
        assert response.status_code == 200, response.text
        return Worker(caller, key, response.json()["key_id"])

    async def write(self, worker: Worker, book: Book, *records: dict[str, Any]) -> None:
        """The worker signs and writes each record into the book; each is accepted."""
        async with self.client(worker) as http:
            for record in records:
                answer = await http.post(
                    f"/api/v1/records/books/{book.id}/records", json=worker.signed(record)
                )
                assert answer.status_code == 201, answer.text

    async def open_book(self, worker: Worker, book: Book) -> None:
        """The worker's organisation gets a grant: a lookup with the СНИЛС and the number."""
        async with self.client(worker) as http:
            response = await http.post(
                "/api/v1/records/books/lookup",
                json={"snils": book.holder.snils, "number": book.number},
            )
        assert response.status_code == 200, response.text


def exam(book_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "record_id": str(uuid.uuid4()), "kind": "exam", "book_id": book_id,
        "exam_type": "periodic", "date": "2026-11-20",
        "specialists": ["терапевт", "дерматовенеролог"], "conclusion": "fit", **fields,
    }  # fmt: skip


def certification(book_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "record_id": str(uuid.uuid4()),
        "kind": "certification",
        "book_id": book_id,
        "category": "food",
        "date": "2026-11-21",
        "passed": True,
        **fields,
    }


async def started(clock: Clock, **overrides: Any) -> AsyncIterator[RecordsApp]:
    suffix = uuid.uuid4().hex[:8]
    settings = RecordsSettings(
        mongodb_database=f"records_test_{suffix}",
        # Its own group: the platform's records service must not share its partitions.
        kafka_consumer_group=f"records-test-{suffix}",
        scheduler_poll_seconds=3600,  # the tests drive the scheduler themselves
        consumer_backoff_seconds=0.05,
        consumer_backoff_max_seconds=0.2,
        **overrides,
    )
    peers = FakePeers()
    app = build(
        settings, clock=clock, people=peers, employments=peers, verifier=trusting_verifier()
    )
    async with app.router.lifespan_context(app):
        yield RecordsApp(app, peers, clock)


@pytest.fixture(scope="module")
async def service(stack: Stack | None) -> AsyncIterator[RecordsApp]:
    async for running in started(Clock(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))):
        yield running


@pytest.fixture(scope="module")
async def published(kafka_bootstrap: str) -> AsyncIterator[TopicTap]:
    async with TopicTap(kafka_bootstrap, catalog.RECORDS) as tap:
        yield tap


@pytest.fixture(autouse=True)
def _on_the_stack(stack: Stack | None) -> None:
    """Every test here runs on the real servers, whether or not it asks for ``service``."""
