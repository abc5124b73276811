"""The validity scheduler with time the test controls: a book turns «истекающая» and then
«не действует» as days pass, and the topic hears each change once, with two replicas
ticking at the same instant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from emk_testing import Caller, TopicTap
from records.scheduler import ValidityScheduler

from .conftest import RecordsApp, certification, exam


async def test_two_replicas_publish_each_calendar_change_once(
    service: RecordsApp, published: TopicTap
) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.write(
        worker, book, exam(book.id, date="2026-11-20"), certification(book.id, date="2026-11-21")
    )
    await published.wait(book.id, "BookValidityChanged")  # valid

    replicas = [
        ValidityScheduler(
            service.store,
            service.clock,
            owner=f"replica-{n}",
            poll_seconds=3600,
            claim_seconds=30,
        )
        for n in (1, 2)
    ]
    saved = service.clock.current
    try:
        # 30 days before the exam's due date (2027-11-20), Moscow morning.
        service.clock.current = datetime(2027, 10, 21, 6, 0, tzinfo=UTC)
        await asyncio.gather(*(r.tick() for r in replicas))
        changes = await published.wait(book.id, "BookValidityChanged", count=2)
        assert changes[-1].data["status"] == "expiring"
        # Its check fell due at the start of the Moscow day (21:00 UTC): 9 hours late, as
        # the replica that made it notes for emk_scheduler_lag_seconds{scheduler=validity}.
        assert sorted(r.lag.worst for r in replicas) == [0.0, 9 * 3600.0]
        # The day after the due date.
        service.clock.current = datetime(2027, 11, 21, 6, 0, tzinfo=UTC)
        await asyncio.gather(*(r.tick() for r in replicas))
        changes = await published.wait(book.id, "BookValidityChanged", count=3)
        assert changes[-1].data["status"] == "not_valid"
        # Nothing more to do, for either replica, however often they look.
        assert await asyncio.gather(*(r.tick() for r in replicas)) == [0, 0]
    finally:
        service.clock.current = saved
    # A later event of the same book marks the end of what the ticks could have published.
    citizen = Caller(book.holder_id)
    async with service.client(citizen) as http:
        [grant] = (await http.get("/api/v1/records/book/grants")).json()["items"]
        assert (await http.delete(f"/api/v1/records/book/grants/{grant['id']}")).status_code == 204
    await published.wait(book.id, "BookAccessEnded")
    assert [e.data["status"] for e in published.of(book.id, "BookValidityChanged")] == [
        "valid",
        "expiring",
        "not_valid",
    ]


async def test_a_book_nobody_looks_at_is_checked_when_due(service: RecordsApp) -> None:
    _, book = await service.issue()
    stored = await service.store.books.find_one({"_id": book.id}, {"next_check_at": 1})
    assert stored is not None
    assert stored["next_check_at"] is None  # nothing recorded: expired until something is
