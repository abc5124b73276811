"""The audit journal on the real MongoDB: entries sealed into one chain in batches, anchored;
``emk-audit verify`` names a changed, removed, reordered or inserted entry; sealers racing
on one chain neither fork it nor lose an entry; a write's staged entries reach it once."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from emk_common import catalog
from emk_common.audit import AccessLog
from emk_common.journal import (
    ACCESS_LOG,
    GENESIS,
    HEAD_ID,
    HEADS,
    JOURNAL_FIELD,
    JOURNAL_PENDING,
    JournalCollector,
    JournalSealer,
    Verdict,
    chain_hash,
    stage,
    stage_insert,
    verify,
)
from emk_common.outbox import OUTBOX_FIELD, Outbox
from emk_devstack.stack import Stack

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def mongodb_uri(stack: Stack | None) -> str:
    # Read before the unit tests' autouse fixture clears the environment.
    return os.environ["MONGODB_URI"]


@pytest.fixture
async def db(mongodb_uri: str) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    database = client[f"journal_{uuid.uuid4().hex[:10]}"]
    try:
        yield database
    finally:
        await client.drop_database(database.name)
        await client.close()


def sealer(db: AsyncDatabase[Doc], batch_size: int = 4) -> JournalSealer:
    return JournalSealer(
        db[ACCESS_LOG], db[HEADS], Outbox(shards=4), service="probe", batch_size=batch_size
    )


@dataclass
class Journal:
    db: AsyncDatabase[Doc]
    log: AccessLog

    async def record(self, n: int, actor: str = "worker") -> None:
        for i in range(n):
            await self.log.record(
                f"book-{i % 3}", f"holder-{i % 3}", actor_id=actor, actor_role="medical_worker",
                action="read", reason="Осмотр", organization_id="1027700000001",
            )  # fmt: skip

    async def entries(self) -> list[Doc]:
        return await self.db[ACCESS_LOG].find({}).sort("seq", 1).to_list()

    async def anchor(self) -> None:
        """Keep the anchors the head staged, as identity does from ``emk.audit``."""
        head = await self.db[HEADS].find_one({"_id": HEAD_ID})
        assert head is not None
        for entry in head.get(OUTBOX_FIELD, []):
            data = json.loads(entry["body"])["data"]
            anchored = catalog.AuditAnchored.model_validate(data)
            await self.db["audit_anchors"].update_one(
                {"_id": f"{anchored.service}:{anchored.seq}"},
                {"$setOnInsert": anchored.model_dump()},
                upsert=True,
            )

    async def verify(self) -> Verdict:
        return await verify(self.db[ACCESS_LOG], self.db["audit_anchors"], "probe")


async def sealed_journal(db: AsyncDatabase[Doc], n: int = 10) -> Journal:
    """``n`` entries sealed in batches of 4, each batch anchored."""
    journal = Journal(db, AccessLog(db[ACCESS_LOG], "book"))
    seal = sealer(db)
    await seal.prepare()
    await journal.record(n)
    while await seal.seal_once():
        await journal.anchor()
    return journal


async def test_entries_are_sealed_into_one_chain_and_anchored(db: AsyncDatabase[Doc]) -> None:
    journal = await sealed_journal(db, 10)
    entries = await journal.entries()
    assert [e["seq"] for e in entries] == list(range(1, 11))
    assert entries[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after["prev"] == before["hash"]
    for entry in entries:
        assert entry["hash"] == chain_hash(entry["prev"], entry)
        assert "_unsealed" not in entry
        assert entry["resource"] == "book"
    anchors = await db["audit_anchors"].find({}, {"_id": 0}).sort("seq", 1).to_list()
    # Batches of 4: three heads, each the chain's hash up to its last entry.
    assert [(a["service"], a["seq"], a["hash"]) for a in anchors] == [
        ("probe", s, entries[s - 1]["hash"]) for s in (4, 8, 10)
    ]
    head = await db[HEADS].find_one({"_id": HEAD_ID})
    assert head is not None
    assert (head["seq"], head["hash"], head.get("batch")) == (10, entries[-1]["hash"], None)
    verdict = await journal.verify()
    assert verdict.finding is None
    assert str(verdict) == "10 entries, chain intact up to anchor 10"
    # The entries' own API is unchanged.
    assert len(await journal.log.of("book-0")) == 4


async def _swap_seq(db: AsyncDatabase[Doc], a: int, b: int) -> None:
    log = db[ACCESS_LOG]
    await log.update_one({"seq": a}, {"$set": {"seq": -1}})  # seq is unique
    await log.update_one({"seq": b}, {"$set": {"seq": a}})
    await log.update_one({"seq": -1}, {"$set": {"seq": b}})


async def test_a_changed_entry_is_named(db: AsyncDatabase[Doc]) -> None:
    journal = await sealed_journal(db)
    target = await db[ACCESS_LOG].find_one({"seq": 5})
    assert target is not None
    await db[ACCESS_LOG].update_one({"seq": 5}, {"$set": {"actor_id": "someone-else"}})
    finding = (await journal.verify()).finding
    assert finding is not None
    assert (finding.kind, finding.seq, finding.entry_id) == ("changed", 5, str(target["_id"]))


async def test_a_removed_entry_is_named(db: AsyncDatabase[Doc]) -> None:
    journal = await sealed_journal(db)
    await db[ACCESS_LOG].delete_one({"seq": 5})
    finding = (await journal.verify()).finding
    assert finding is not None
    assert (finding.kind, finding.seq) == ("removed", 5)


async def test_entries_removed_from_the_end_are_caught_by_the_anchors(
    db: AsyncDatabase[Doc],
) -> None:
    journal = await sealed_journal(db)
    await db[ACCESS_LOG].delete_many({"seq": {"$gte": 9}})
    verdict = await journal.verify()
    assert verdict.finding is not None
    assert (verdict.finding.kind, verdict.finding.seq) == ("removed", 9)
    assert "anchor 10" in str(verdict)


async def test_reordered_entries_are_named(db: AsyncDatabase[Doc]) -> None:
    journal = await sealed_journal(db)
    moved = await db[ACCESS_LOG].find_one({"seq": 6})
    assert moved is not None
    await _swap_seq(db, 5, 6)
    finding = (await journal.verify()).finding
    assert finding is not None
    assert (finding.kind, finding.seq, finding.entry_id) == ("reordered", 5, str(moved["_id"]))


async def test_an_inserted_entry_is_named_even_when_it_is_chained_properly(
    db: AsyncDatabase[Doc],
) -> None:
    """The forger knows the algorithm: the new entry chains to seq 4 and the later ones are
    renumbered; the entry after it still chains to seq 4."""
    journal = await sealed_journal(db)
    log = db[ACCESS_LOG]
    for seq in range(10, 4, -1):  # seq is unique: from the end
        await log.update_one({"seq": seq}, {"$set": {"seq": seq + 1}})
    before = await log.find_one({"seq": 4})
    assert before is not None
    forged: Doc = {
        "_id": ObjectId(), "resource": "book", "book_id": "book-0", "owner_id": "holder-0",
        "actor_id": "nobody", "actor_role": "medical_worker", "action": "read",
        "reason": "Осмотр", "at": before["at"], "trace_id": None,
    }  # fmt: skip
    forged.update(seq=5, prev=before["hash"], hash=chain_hash(before["hash"], forged))
    await log.insert_one(forged)
    finding = (await journal.verify()).finding
    assert finding is not None
    assert (finding.kind, finding.seq, finding.entry_id) == ("inserted", 5, str(forged["_id"]))


async def test_a_second_entry_under_a_sealed_seq_is_named_inserted(
    db: AsyncDatabase[Doc],
) -> None:
    journal = await sealed_journal(db)
    log = db[ACCESS_LOG]
    # The unique index on seq is what stops this; a forger with the database drops it first.
    await log.drop_index("seq")
    copy = await log.find_one({"seq": 3}, {"_id": 0})
    assert copy is not None
    copy["_id"] = ObjectId("f" * 24)  # sorts after the real one
    copy["actor_id"] = "nobody"
    await log.insert_one(copy)
    finding = (await journal.verify()).finding
    assert finding is not None
    assert (finding.kind, finding.seq, finding.entry_id) == ("inserted", 3, str(copy["_id"]))


async def test_a_consistently_rewritten_chain_differs_from_identitys_anchors(
    db: AsyncDatabase[Doc],
) -> None:
    """Entry 5 changed and every hash after it recomputed: only the anchors can tell."""
    journal = await sealed_journal(db)
    log = db[ACCESS_LOG]
    entries = await journal.entries()
    entries[4]["actor_id"] = "someone-else"
    prev = entries[3]["hash"]
    for entry in entries[4:]:
        entry["prev"], entry["hash"] = prev, chain_hash(prev, entry)
        prev = entry["hash"]
        await log.replace_one({"_id": entry["_id"]}, entry)
    finding = (await journal.verify()).finding
    assert finding is not None
    assert (finding.kind, finding.seq) == ("changed", 8)  # the first anchor after it
    assert "anchor 8" in finding.detail


async def test_the_command_exits_0_when_intact_and_1_naming_the_entry(
    db: AsyncDatabase[Doc], mongodb_uri: str
) -> None:
    await sealed_journal(db, 6)
    command = [
        sys.executable, "-m", "emk_common.journal", "verify", "--service", "probe",
        "--database", db.name, "--anchors-database", db.name,
    ]  # fmt: skip
    env = {**os.environ, "MONGODB_URI": mongodb_uri}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    intact = await asyncio.to_thread(run)
    assert (intact.returncode, intact.stdout.strip()) == (
        0,
        "6 entries, chain intact up to anchor 6",
    )
    await db[ACCESS_LOG].update_one({"seq": 2}, {"$set": {"action": "write"}})
    tampered = await asyncio.to_thread(run)
    assert tampered.returncode == 1
    assert "seq 2 (id " in tampered.stdout
    assert "changed" in tampered.stdout


async def test_two_sealers_racing_on_one_chain_lose_nothing_and_fork_nothing(
    db: AsyncDatabase[Doc],
) -> None:
    log = AccessLog(db[ACCESS_LOG], "book")
    sealers = [sealer(db, batch_size=7), sealer(db, batch_size=5)]
    await sealers[0].prepare()
    journal = Journal(db, log)
    writers_done = asyncio.Event()
    sealed = [0, 0]

    async def write(actor: str) -> None:
        await journal.record(60, actor)

    async def seal(i: int) -> None:
        while True:
            done = writers_done.is_set()
            sealed[i] += await sealers[i].seal_once()
            await journal.anchor()
            if done and not await db[ACCESS_LOG].count_documents({"_unsealed": True}):
                return

    async def writers() -> None:
        await asyncio.gather(*(write(f"writer-{w}") for w in range(3)))
        writers_done.set()

    await asyncio.gather(writers(), seal(0), seal(1))
    entries = await journal.entries()
    assert len(entries) == 180
    assert sum(sealed) == 180  # each entry sealed by exactly one of them
    assert [e["seq"] for e in entries] == list(range(1, 181))
    verdict = await journal.verify()
    assert verdict.finding is None, verdict
    assert verdict.anchored == 180


async def test_of_two_sealers_on_one_head_one_seals_the_batch_and_the_other_nothing(
    db: AsyncDatabase[Doc],
) -> None:
    journal = Journal(db, AccessLog(db[ACCESS_LOG], "book"))
    first, second = sealer(db, batch_size=10), sealer(db, batch_size=10)
    await first.prepare()
    await journal.record(6)
    assert sorted(await asyncio.gather(first.seal_once(), second.seal_once())) == [0, 6]
    await journal.anchor()
    assert [e["seq"] for e in await journal.entries()] == [1, 2, 3, 4, 5, 6]
    assert (await journal.verify()).finding is None


async def test_a_sealer_stopped_after_claiming_a_batch_is_finished_by_the_next_round(
    db: AsyncDatabase[Doc],
) -> None:
    journal = Journal(db, AccessLog(db[ACCESS_LOG], "book"))
    first = sealer(db)
    await first.prepare()
    await journal.record(6)

    async def stopped(head_seq: int, batch: Any) -> None:
        raise ConnectionError("stopped")

    first._finish = stopped  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await first.seal_once()
    head = await db[HEADS].find_one({"_id": HEAD_ID})
    assert head is not None
    assert (head["seq"], len(head["batch"])) == (4, 4)  # claimed, entries not yet marked
    assert await db[ACCESS_LOG].count_documents({"_unsealed": True}) == 6

    second = sealer(db)
    while await second.seal_once():
        await journal.anchor()
    await journal.anchor()
    assert [e["seq"] for e in await journal.entries()] == [1, 2, 3, 4, 5, 6]
    assert (await journal.verify()).finding is None


async def test_a_writes_staged_entries_reach_the_journal_once(db: AsyncDatabase[Doc]) -> None:
    log = AccessLog(db[ACCESS_LOG], "book")
    aggregates = db["aggregates"]

    def entry(action: str) -> Doc:
        return log.entry(
            "book-1", "holder-1", actor_id="w", actor_role="medical_worker", action=action,
            reason=None,
        )  # fmt: skip

    issued = entry("book.issue")
    await aggregates.insert_one(stage_insert({"_id": "book-1", "version": 1}, [issued]))
    recorded = entry("record.exam")
    await aggregates.update_one(
        {"_id": "book-1"}, stage({"$inc": {"version": 1}}, [recorded, entry("validity")])
    )
    collectors = [JournalCollector([aggregates], db[ACCESS_LOG]) for _ in range(2)]
    await collectors[0].ensure_indexes()
    # A collector that stopped after inserting, before pulling: the next finds them there.
    await db[ACCESS_LOG].insert_one(dict(issued))
    moved = await asyncio.gather(*(c.collect_once() for c in collectors))
    assert sum(moved) >= 3
    assert await collectors[0].collect_once() == 0  # nothing staged is left
    in_journal = await db[ACCESS_LOG].find({}).sort("_id", 1).to_list()
    assert [e["action"] for e in in_journal] == ["book.issue", "record.exam", "validity"]
    assert all(e["_unsealed"] for e in in_journal)
    doc = await aggregates.find_one({"_id": "book-1"})
    assert doc is not None
    assert JOURNAL_FIELD not in doc
    assert JOURNAL_PENDING not in doc
    assert doc["version"] == 2
    seal = sealer(db)
    await seal.prepare()
    assert await seal.seal_once() == 3
