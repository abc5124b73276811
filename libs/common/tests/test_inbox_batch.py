"""``Inbox.apply_batch``: many events' marks and effects in one transaction, against the real
MongoDB — copies and known events skipped, nudges after the commit, all or nothing."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from emk_common.inbox import Inbox, InboxItem, after_commit, insert_effect
from emk_devstack.stack import Stack

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def mongodb_uri(stack: Stack | None) -> str:
    # Read before the unit tests' autouse fixture clears the environment.
    return os.environ["MONGODB_URI"]


@pytest.fixture
async def db(mongodb_uri: str) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_uri)
    database = client[f"inbox_batch_{uuid.uuid4().hex[:8]}"]
    await database["effects"].insert_one({"_id": "warm"})  # collections exist before a txn
    await database["inbox"].insert_one({"_id": "warm"})
    try:
        yield database
    finally:
        await client.drop_database(database.name)
        await client.close()


def inbox_of(db: AsyncDatabase[Doc]) -> Inbox:
    return Inbox(db.client, db["inbox"])


def writer(
    db: AsyncDatabase[Doc], event_id: str, then: Callable[[], None] | None = None
) -> Callable[[AsyncClientSession], Awaitable[None]]:
    async def effect(session: AsyncClientSession) -> None:
        await db["effects"].insert_one({"event_id": event_id}, session=session)
        if then is not None:
            then()

    return effect


async def applied(db: AsyncDatabase[Doc]) -> list[str]:
    found = db["effects"].find({"event_id": {"$exists": True}}).sort("event_id", 1)
    return [doc["event_id"] async for doc in found]


async def test_a_batch_applies_each_event_once_skipping_copies_and_known_ones(
    db: AsyncDatabase[Doc],
) -> None:
    inbox = inbox_of(db)
    assert await inbox.apply_once("h", "e1", writer(db, "e1")) is True
    items = [
        InboxItem("h", "e1", writer(db, "e1")),  # applied before
        InboxItem("h", "e2", writer(db, "e2")),
        InboxItem("h", "e2", writer(db, "e2")),  # a copy in the same batch
        InboxItem("other", "e2", writer(db, "e2-other")),  # another handler's own key
        InboxItem("h", "e3", writer(db, "e3")),
    ]
    assert await inbox.apply_batch(items) == [False, True, False, True, True]
    assert await applied(db) == ["e1", "e2", "e2-other", "e3"]
    marks = await db["inbox"].find({"_id": {"$ne": "warm"}}).sort("_id", 1).to_list()
    expected = [("h", "e1"), ("h", "e2"), ("h", "e3"), ("other", "e2")]
    assert [(m["handler"], m["event_id"]) for m in marks] == expected
    # The whole batch again: every one is known now, nothing runs.
    assert await inbox.apply_batch(items) == [False] * 5
    assert await applied(db) == ["e1", "e2", "e2-other", "e3"]


async def test_a_batch_nudges_only_after_its_commit_in_order(
    db: AsyncDatabase[Doc], mongodb_uri: str
) -> None:
    """Each nudge checks, through a client of its own, that the whole batch is committed."""
    inbox = inbox_of(db)
    other: MongoClient[Doc] = MongoClient(mongodb_uri)
    seen: list[tuple[str, int]] = []

    def nudge(event_id: str) -> Callable[[], None]:
        def staged() -> None:
            def run() -> None:
                committed = other[db.name]["effects"].count_documents({"event_id": {"$gt": ""}})
                seen.append((event_id, committed))

            after_commit(run)

        return staged

    try:
        ids = [f"e{i}" for i in range(5)]
        ran = await inbox.apply_batch([InboxItem("h", i, writer(db, i, nudge(i))) for i in ids])
        assert ran == [True] * 5
        assert seen == [(i, 5) for i in ids]  # after the commit of all five, once each
    finally:
        other.close()


async def test_a_failing_effect_rolls_the_whole_batch_back_and_nudges_nobody(
    db: AsyncDatabase[Doc],
) -> None:
    inbox = inbox_of(db)
    nudges: list[str] = []

    async def poison(session: AsyncClientSession) -> None:
        raise ValueError("poison by design")

    items = [
        InboxItem("h", "e1", writer(db, "e1", lambda: after_commit(lambda: nudges.append("1")))),
        InboxItem("h", "e2", poison),
        InboxItem("h", "e3", writer(db, "e3")),
    ]
    with pytest.raises(ValueError, match="poison by design"):
        await inbox.apply_batch(items)
    assert await applied(db) == []
    assert await db["inbox"].count_documents({"_id": {"$ne": "warm"}}) == 0
    assert nudges == []
    # One by one, the healthy ones still apply (the consumer's fallback).
    assert await inbox.apply_once("h", "e1", items[0].effect) is True
    assert await inbox.apply_once("h", "e3", items[2].effect) is True
    assert await applied(db) == ["e1", "e3"]
    assert nudges == ["1"]


class _Inserts(monitoring.CommandListener):
    """The insert commands a client sent, by collection."""

    def __init__(self) -> None:
        self.into: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.into.append(event.command["insert"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def deferred_writer(
    db: AsyncDatabase[Doc], *event_ids: str, fail: bool = False
) -> Callable[[AsyncClientSession], Awaitable[None]]:
    async def effect(session: AsyncClientSession) -> None:
        await insert_effect(db["effects"], [{"event_id": e} for e in event_ids], session)
        await insert_effect(db["others"], [{"event_id": e} for e in event_ids], session)
        if fail:
            raise RuntimeError("this effect fails after its inserts")

    return effect


async def test_a_batchs_effect_inserts_are_one_insert_per_collection(mongodb_uri: str) -> None:
    inserts = _Inserts()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_uri, event_listeners=[inserts])
    db = client[f"inbox_batch_{uuid.uuid4().hex[:8]}"]
    try:
        for name in ("effects", "others", "inbox"):
            await db[name].insert_one({"_id": "warm"})
        inserts.into.clear()
        items = [InboxItem("h", f"e{n}", deferred_writer(db, f"e{n}")) for n in range(1, 51)]
        items.append(InboxItem("h", "e51", deferred_writer(db, "e51a", "e51b")))
        assert await inbox_of(db).apply_batch(items) == [True] * 51
        expected = sorted([f"e{n}" for n in range(1, 51)] + ["e51a", "e51b"])
        assert await applied(db) == expected
        others = await db["others"].count_documents({"event_id": {"$exists": True}})
        assert others == 52
        # The marks, then each collection's documents, in one insert each.
        assert sorted(inserts.into) == ["effects", "inbox", "others"]
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_a_failing_effect_takes_the_batchs_deferred_inserts_with_it(
    db: AsyncDatabase[Doc],
) -> None:
    items = [
        InboxItem("h", "e1", deferred_writer(db, "e1")),
        InboxItem("h", "e2", deferred_writer(db, "e2", fail=True)),
    ]
    with pytest.raises(RuntimeError):
        await inbox_of(db).apply_batch(items)
    assert await applied(db) == []
    assert await db["others"].count_documents({"event_id": {"$exists": True}}) == 0
    assert await db["inbox"].count_documents({"_id": {"$ne": "warm"}}) == 0


async def test_one_by_one_an_effects_inserts_are_made_at_once(db: AsyncDatabase[Doc]) -> None:
    seen: list[int] = []

    async def effect(session: AsyncClientSession) -> None:
        await insert_effect(db["effects"], [{"event_id": "e1"}], session)
        seen.append(await db["effects"].count_documents({"event_id": "e1"}, session=session))

    assert await inbox_of(db).apply_once("h", "e1", effect) is True
    assert seen == [1]
    assert await applied(db) == ["e1"]
