"""``after_commit``: a handler's nudge runs once its effect is durable, and never for a
duplicate delivery."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.inbox import Inbox, after_commit
from emk_devstack.stack import Stack


@pytest.fixture(scope="module")
def mongodb_uri(stack: Stack | None) -> str:
    # Read before the unit tests' autouse fixture clears the environment.
    return os.environ["MONGODB_URI"]


async def test_a_nudge_waits_for_the_commit_and_a_duplicate_gives_none(mongodb_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    db = client[f"inbox_after_commit_{uuid.uuid4().hex[:8]}"]
    inbox = Inbox(client, db["inbox"])
    nudges: list[str] = []

    async def effect(session: AsyncClientSession) -> None:
        await db["effects"].insert_one({"n": 1}, session=session)
        after_commit(lambda: nudges.append("woken"))
        assert nudges == []  # not inside the transaction

    try:
        assert await inbox.apply_once("h", "event-1", effect) is True
        assert nudges == ["woken"]
        assert await inbox.apply_once("h", "event-1", effect) is False
        assert nudges == ["woken"]  # the duplicate changed nothing and woke nobody
        outside: list[str] = []
        after_commit(lambda: outside.append("now"))
        assert outside == ["now"]
    finally:
        await client.drop_database(db.name)
        await client.close()
