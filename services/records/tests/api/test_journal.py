"""The audit journal on the book's writes: each write's entry rides in the book's own write,
reaches the journal once, is sealed into the chain, and the chain's head is anchored on
``emk.audit``."""

from __future__ import annotations

from typing import Any

from emk_common import catalog
from emk_common.journal import HEAD_ID, HEADS, JOURNAL_FIELD, JOURNAL_PENDING, check_chain
from emk_testing import TopicTap, eventually

from .conftest import RecordsApp, exam

BOOK = "/api/v1/records/book"


async def test_a_books_writes_are_journaled_in_their_own_write_sealed_and_anchored(
    service: RecordsApp, kafka_bootstrap: str
) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.write(worker, book, exam(book.id))
    log = service.store.access_log.collection

    async def sealed() -> list[dict[str, Any]] | None:
        found = await log.find({"book_id": book.id, "listed": False}).sort("seq", 1).to_list()
        done = len(found) == 3 and all(isinstance(e.get("seq"), int) for e in found)
        return found if done else None

    entries = await eventually(sealed, what="the book's write entries sealed")
    assert entries is not None
    assert [(e["action"], e["actor_role"]) for e in entries] == [
        ("book.issue", "system"),
        ("grant.open", "medical_worker"),
        ("record.exam+validity", "medical_worker"),
    ]
    assert entries[2]["actor_id"] == worker.caller.user_id
    assert all(e["owner_id"] == citizen.user_id for e in entries)
    stored = await service.store.books.find_one({"_id": book.id})
    assert stored is not None
    assert JOURNAL_FIELD not in stored
    assert JOURNAL_PENDING not in stored
    # The whole journal of this service's database is one intact chain.
    everything = await log.find({}).to_list()
    assert check_chain(everything, {}).finding is None
    # The holder's list of who accessed the book is as before: the lookup and the write.
    async with service.client(citizen) as http:
        listed = (await http.get(f"{BOOK}/access-log")).json()["items"]
    assert [e["action"] for e in listed] == ["write", "lookup"]

    head = await service.store.books.database[HEADS].find_one({"_id": HEAD_ID})
    assert head is not None
    async with TopicTap(kafka_bootstrap, catalog.AUDIT) as tap:
        anchors = await tap.wait("records", "AuditAnchored")
        assert anchors

        async def anchored() -> bool:
            return any(e.data["hash"] == head["hash"] for e in tap.of("records", "AuditAnchored"))

        await eventually(anchored, within=30, what="the head's anchor on emk.audit")
