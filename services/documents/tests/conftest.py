"""Documents' API tests: the real app in this process, on the real MongoDB, S3 and clamd.

Tokens are signed with the tests' own key, which the app is told to trust
(``emk_testing``) — the end-to-end suite uses identity's real tokens and JWKS.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from emk_devstack.stack import Stack
from emk_testing import Caller, trusting_verifier

# Someone calling the service under test, with a token it trusts.
Person = Caller


def citizen() -> Person:
    return Person(uuid.uuid4().hex, "citizen")


@dataclass
class DocumentsApp:
    app: FastAPI

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://documents", timeout=60
        )

    @property
    def runtime(self) -> Any:
        return self.app.state.documents.runtime


async def started(settings: dict[str, Any]) -> AsyncIterator[DocumentsApp]:
    from documents.app import build
    from documents.settings import DocumentsSettings

    app = build(DocumentsSettings(**settings))
    app.state.access_verifier = trusting_verifier()
    async with app.router.lifespan_context(app):
        yield DocumentsApp(app)


@pytest.fixture(scope="module")
async def documents(stack: Stack | None) -> AsyncIterator[DocumentsApp]:
    suffix = uuid.uuid4().hex[:8]
    async for app in started(
        {"mongodb_database": f"documents_test_{suffix}", "s3_bucket": f"documents-{suffix}"}
    ):
        yield app
