"""The deadline scheduler, with time driven by the test: an unanswered clarification is
rejected automatically and an overdue application raises ``DeadlineBreached`` — once each,
however many replicas tick at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from applications.domain.application import AUTO_REJECT_REASON
from applications.scheduler import DeadlineScheduler

from .conftest import ApplicationsApp, Clock, Published, person, started
from .journey import submitted, taken
from .test_lists import REASON


def replica(service: ApplicationsApp, name: str) -> DeadlineScheduler:
    return DeadlineScheduler(
        service.store, service.clock, owner=name,
        poll_seconds=3600, claim_seconds=30, recount_seconds=3600,
    )  # fmt: skip


async def test_an_unanswered_clarification_is_rejected_once_by_one_of_two_replicas(
    published: Published,
) -> None:
    # Monday 2026-03-02, 12:00 Moscow.
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async for service in started(clock):
        application, operator = await taken(service)
        async with service.client(operator) as http:
            asked = await http.post(
                f"/api/v1/applications/{application['id']}/request-clarification",
                json={"comment": "Нужен скан полиса", "documents": ["oms_policy"]},
            )
        assert asked.json()["answer_due"] == "2026-03-05"  # Tue, Wed, Thu
        first, second = replica(service, "a"), replica(service, "b")

        clock.current = datetime(2026, 3, 5, 20, 59, tzinfo=UTC)  # 23:59 Moscow, still in time
        assert await first.tick() == 0
        clock.current = datetime(2026, 3, 5, 21, 0, tzinfo=UTC)  # midnight in Moscow
        fired = await asyncio.gather(first.tick(), second.tick())
        assert sorted(fired) == [0, 1]
        assert await first.tick() == 0
        assert await second.tick() == 0

        stored = await service.raw(application["id"])
        # The events leave through the outbox while the service runs.
        await published.wait(application["id"], "ApplicationRejected")
        (breach,) = await published.wait(application["id"], "DeadlineBreached")
        changes = await published.wait(application["id"], "ApplicationStatusChanged", 4)
    assert stored["status"] == "rejected"
    assert stored["rejection"] == {"reason": AUTO_REJECT_REASON, "fields": [], "automatic": True}
    assert stored["history"][-1]["by"] == "system"
    assert stored["next_timer_at"] is None
    assert breach.data["deadline"] == "clarification_answer"
    assert [c.data["status"] for c in changes] == [
        "submitted", "in_review", "clarification_requested", "rejected",
    ]  # fmt: skip
    assert len(published.of(application["id"], "ApplicationRejected")) == 1


async def test_an_answer_in_time_cancels_the_automatic_rejection() -> None:
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async for service in started(clock):
        citizen, operator = service.ready_citizen(), person("operator")
        application = await submitted(service, citizen)
        url = f"/api/v1/applications/{application['id']}"
        async with service.client(operator) as http:
            await http.post(f"{url}/take")
            await http.post(f"{url}/request-clarification", json={"comment": "Уточните"})
        clock.current = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
        async with service.client(citizen) as http:
            assert (await http.post(f"{url}/resubmit")).status_code == 200
        clock.current = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
        assert await replica(service, "a").tick() == 0
        stored = await service.raw(application["id"])
    assert stored["status"] == "in_review"


async def test_an_overdue_application_is_flagged_and_breached_once(published: Published) -> None:
    # Friday 2026-03-06: 5 working days end on Monday 03-16 (Monday 03-09 is a day off).
    clock = Clock(datetime(2026, 3, 6, 9, 0, tzinfo=UTC))
    async for service in started(clock):
        application = await submitted(service)
        assert application["due_date"] == "2026-03-16"
        operator = person("operator")
        async with service.client(operator) as http:
            before = (await http.get("/api/v1/applications?overdue=true", headers=REASON)).json()
        clock.current = datetime(2026, 3, 16, 21, 0, tzinfo=UTC)
        assert await replica(service, "a").tick() == 1
        assert await replica(service, "b").tick() == 0
        async with service.client(operator) as http:
            after = (await http.get("/api/v1/applications?overdue=true", headers=REASON)).json()
            on_time = (await http.get("/api/v1/applications?overdue=false", headers=REASON)).json()
        stored = await service.raw(application["id"])
        (breach,) = await published.wait(application["id"], "DeadlineBreached")
    assert before["total"] == 0
    assert before["items"] == []
    assert [i["id"] for i in after["items"]] == [application["id"]]
    assert after["total"] == 1
    assert after["items"][0]["overdue"] is True
    assert on_time["total"] == 0
    assert stored["status"] == "submitted"  # a breach is a flag, not a status
    assert breach.data["deadline"] == "review"
    assert breach.data["due_date"] == "2026-03-16"
    assert stored["history"][-1]["comment"] == "Срок рассмотрения истёк"
