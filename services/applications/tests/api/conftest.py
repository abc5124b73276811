"""Applications' API tests: the real app in this process, on the real MongoDB and Kafka.

Tokens are signed with the tests' own key, which the app trusts (``emk_testing``),
and identity and documents are replaced through ``build(upstream=...)`` by a fake of our own
``ports.Upstream`` that answers as they would for the token's owner. The end-to-end suite
(``tests/e2e``) runs the same journey against the real identity and documents services.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from applications.app import build
from applications.ports import OwnDocument
from applications.service import Applications
from applications.settings import ApplicationsSettings
from applications.store import ApplicationStore
from emk_common import catalog
from emk_devstack.stack import Stack
from emk_testing import Caller, FakeClock, TopicTap, trusting_verifier

# The tests' clock, as the suites here name it.
Clock = FakeClock

# Someone calling the service under test, with a token it trusts.
Person = Caller

# A valid employer the local ЕГРЮЛ does not know: accepted on its checksums alone.
EMPLOYER: dict[str, Any] = {
    "name": "ООО «Ромашка»",
    "inn": "7734567893",
    "ogrn": "1027700123450",
    "legal_address": {
        "region_code": "77",
        "locality": "г. Москва",
        "street": "ул. Тверская",
        "house": "7",
    },
    "org_type": "head_office",
    "ownership": "private",
    "position": "Повар",
}
OMS = "7700000000000008"
DRAFT: dict[str, Any] = {"employer": EMPLOYER, "oms_policy": OMS, "consent_personal_data": True}


def person(role: str = "citizen") -> Person:
    return Person(uuid.uuid4().hex, role)


@dataclass
class FakeUpstream:
    """Identity and documents as they answer the caller: own account, own documents."""

    ready: set[str] = field(default_factory=set)
    documents: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    calls: int = 0

    @staticmethod
    def caller(authorization: str) -> str:
        claims = jwt.decode(
            authorization.removeprefix("Bearer "), options={"verify_signature": False}
        )
        return str(claims["sub"])

    async def account_status(self, authorization: str) -> str:
        self.calls += 1
        return "ready" if self.caller(authorization) in self.ready else "pending_personal_data"

    async def own_document(self, authorization: str, document_id: str) -> OwnDocument | None:
        self.calls += 1
        found = self.documents.get(document_id)
        if found is None or found[0] != self.caller(authorization):
            return None
        return OwnDocument(document_id=document_id, kind=found[1], status=found[2])

    def upload(self, owner: Person, kind: str, status: str = "pending_review") -> str:
        document_id = uuid.uuid4().hex
        self.documents[document_id] = (owner.user_id, kind, status)
        return document_id


@dataclass
class ApplicationsApp:
    app: FastAPI
    upstream: FakeUpstream
    clock: Clock

    def client(self, who: Person | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://applications",
            headers=who.headers if who else None,
            timeout=30,
        )

    def ready_citizen(self) -> Person:
        citizen = person()
        self.upstream.ready.add(citizen.user_id)
        return citizen

    @property
    def applications(self) -> Applications:
        service: Applications = self.app.state.applications
        return service

    @property
    def store(self) -> ApplicationStore:
        store = self.applications.store
        assert isinstance(store, ApplicationStore)
        return store

    async def raw(self, application_id: str) -> dict[str, Any]:
        """The application's stored document, as MongoDB holds it."""
        found = await self.store.applications.find_one({"_id": application_id})
        assert found is not None
        return found


async def started(clock: Clock, **overrides: Any) -> AsyncIterator[ApplicationsApp]:
    suffix = uuid.uuid4().hex[:8]
    settings = ApplicationsSettings(
        mongodb_database=f"applications_test_{suffix}",
        # Its own group: the platform's applications service must not share its partitions.
        kafka_consumer_group=f"applications-test-{suffix}",
        scheduler_poll_seconds=3600,  # the tests drive the scheduler themselves
        **overrides,
    )
    upstream = FakeUpstream()
    app = build(settings, clock=clock, upstream=upstream, verifier=trusting_verifier())
    async with app.router.lifespan_context(app):
        yield ApplicationsApp(app, upstream, clock)


@pytest.fixture(scope="module")
async def service(stack: Stack | None) -> AsyncIterator[ApplicationsApp]:
    async for running in started(Clock()):
        yield running


Published = TopicTap


@pytest.fixture(scope="module")
async def published(kafka_bootstrap: str) -> AsyncIterator[Published]:
    async with TopicTap(kafka_bootstrap, catalog.APPLICATIONS) as tap:
        yield tap


@pytest.fixture(autouse=True)
def _on_the_stack(stack: Stack | None) -> None:
    """Every test here runs on the real servers, whether or not it asks for ``service``."""
