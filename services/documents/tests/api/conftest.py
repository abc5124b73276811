"""Documents' API tests: the real app in this process (``build``), on the real MongoDB, S3,
Kafka and clamd.

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
from minio import Minio

from documents.app import build
from documents.service import Documents
from documents.settings import DocumentsSettings
from emk_common.service import Runtime
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
    def documents(self) -> Documents:
        service: Documents = self.app.state.documents
        return service

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def s3(self) -> Minio:
        assert self.runtime.s3 is not None
        return self.runtime.s3

    @property
    def bucket(self) -> str:
        return self.runtime.settings.s3_bucket


async def started(settings: dict[str, Any]) -> AsyncIterator[DocumentsApp]:
    app = build(DocumentsSettings(**settings), verifier=trusting_verifier())
    async with app.router.lifespan_context(app):
        yield DocumentsApp(app)


@pytest.fixture(scope="module")
async def documents(stack: Stack | None) -> AsyncIterator[DocumentsApp]:
    suffix = uuid.uuid4().hex[:8]
    async for app in started(
        {"mongodb_database": f"documents_test_{suffix}", "s3_bucket": f"documents-{suffix}"}
    ):
        yield app


@pytest.fixture(autouse=True)
def _on_the_stack(stack: Stack | None) -> None:
    """Every test here runs on the real servers, whether or not it asks for ``documents``."""
