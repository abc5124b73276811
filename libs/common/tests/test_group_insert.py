"""Group commit (``emk_common.group_insert``) on the real MongoDB: every caller returns once
its own document is written, concurrent callers share round trips, and a failed batch
fails each of its callers rather than answering as if written."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import BulkWriteError

from emk_common.group_insert import GroupInsert
from emk_devstack.stack import Stack


class _Inserts(monitoring.CommandListener):
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.sent = asyncio.Event()  # an insert went out (the async client calls on the loop)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.batches.append(len(event.command["documents"]))
            self.sent.set()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="module")
def mongodb_uri(stack: Stack | None) -> str:
    return os.environ["MONGODB_URI"]


async def test_callers_together_share_round_trips_and_each_finds_its_document(
    mongodb_uri: str,
) -> None:
    inserts = _Inserts()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongodb_uri, event_listeners=[inserts]
    )
    log = GroupInsert(client[f"group_{uuid.uuid4().hex[:8]}"]["checks"])
    try:
        await asyncio.gather(*(log.insert({"n": n}) for n in range(40)))
        # Each returned after its write: all 40 are there, handed in together, one write.
        assert await log.collection.count_documents({}) == 40
        assert inserts.batches == [40]
        # While a write is in flight, those arriving meanwhile gather into the next one.
        inserts.sent.clear()
        first = asyncio.create_task(log.insert({"n": 40}))
        await asyncio.wait_for(inserts.sent.wait(), 5)
        await asyncio.gather(first, *(log.insert({"n": n}) for n in range(41, 61)))
        assert inserts.batches == [40, 1, 20]
        await log.insert({"n": 61})  # alone: a write of its own, no waiting for company
        assert inserts.batches[-1] == 1
        assert await log.collection.count_documents({}) == 62
    finally:
        await client.drop_database(log.collection.database.name)
        await client.close()


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_goes(
    mongodb_uri: str,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    log = GroupInsert(client[f"group_{uuid.uuid4().hex[:8]}"]["checks"])
    try:
        await log.insert({"_id": "taken"})
        first = asyncio.create_task(log.insert({"n": 1}))
        clash = asyncio.create_task(log.insert({"_id": "taken"}))
        outcomes = await asyncio.gather(first, clash, return_exceptions=True)
        assert isinstance(outcomes[1], BulkWriteError)
        await log.insert({"n": 2})
        assert await log.collection.count_documents({"n": 2}) == 1
    finally:
        await client.drop_database(log.collection.database.name)
        await client.close()


async def test_drain_waits_for_documents_whose_callers_went_away(mongodb_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    log = GroupInsert(client[f"group_{uuid.uuid4().hex[:8]}"]["checks"])
    try:
        callers = [asyncio.create_task(log.insert({"n": n})) for n in range(10)]
        await asyncio.sleep(0)  # each has handed its document in
        for caller in callers:
            caller.cancel()
        await log.drain()
        assert await log.collection.count_documents({}) == 10
    finally:
        await client.drop_database(log.collection.database.name)
        await client.close()
