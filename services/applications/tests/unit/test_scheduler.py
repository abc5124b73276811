"""The deadline scheduler's decisions on the fake store, the clock moved by hand: an
unanswered clarification is rejected automatically, a breached review deadline is flagged —
each once; nothing fires early, nor while another replica holds the application. Claims
between real replicas on MongoDB are tested in tests/api."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from applications.domain.application import AUTO_REJECT_REASON
from applications.domain.parts import Actor, Rejection
from applications.domain.statuses import Status
from emk_common import catalog

from .fakes import Rig, rig
from .steps import CITIZEN, clarifying, submitted

# 00:00 in Moscow after the due day: when a deadline has passed.
ANSWER_EXPIRES = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # the answer was due on 6 March
REVIEW_EXPIRES = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)  # the review was due on 10 March


@pytest.fixture
def s() -> Rig:
    return rig()


async def test_an_unanswered_clarification_is_rejected_once_when_its_time_is_up(s: Rig) -> None:
    application = await clarifying(s)
    s.clock.current = ANSWER_EXPIRES - timedelta(seconds=1)
    before = s.store.snapshot()
    assert await s.scheduler.tick() == 0
    assert s.store.snapshot() == before
    s.clock.current = ANSWER_EXPIRES
    written = len(s.store.events)
    assert await s.scheduler.tick() == 1
    rejected = s.store.applications[application.id]
    assert rejected.status is Status.REJECTED
    assert rejected.rejection == Rejection(AUTO_REJECT_REASON, (), automatic=True)
    assert (rejected.history[-1].by, rejected.history[-1].at) == ("system", ANSWER_EXPIRES)
    assert rejected.next_timer() is None
    breached, changed, event = s.store.events[written:]
    assert isinstance(breached, catalog.DeadlineBreached)
    assert (breached.deadline, breached.due_date) == ("clarification_answer", date(2026, 3, 6))
    assert isinstance(changed, catalog.ApplicationStatusChangedV2)
    assert (changed.status, changed.changed_by) == ("rejected", "system")
    assert isinstance(event, catalog.ApplicationRejectedV2)
    assert (event.automatic, event.has_reason) == (True, True)
    # The reason stays in the history entry both events name; the topic gets no text.
    assert event.seq == changed.seq == len(rejected.history) - 1
    assert rejected.history[event.seq].comment == AUTO_REJECT_REASON
    s.clock.advance(days=30)
    assert await s.scheduler.tick() == 0
    assert len(s.store.events) == written + 3


async def test_an_answer_in_time_leaves_only_the_review_deadline(s: Rig) -> None:
    application = await clarifying(s)
    await s.applications.resubmit(CITIZEN, application.id, None)
    answered = s.store.applications[application.id]
    assert answered.next_timer() == datetime(2026, 3, 17, 21, 0, tzinfo=UTC)
    s.clock.current = ANSWER_EXPIRES + timedelta(days=1)
    assert await s.scheduler.tick() == 0
    assert s.store.applications[application.id] == answered


async def test_a_breached_review_is_flagged_once_and_stays_in_its_status(s: Rig) -> None:
    application = await submitted(s)
    s.clock.current = REVIEW_EXPIRES
    written = len(s.store.events)
    assert await s.scheduler.tick() == 1
    overdue = s.store.applications[application.id]
    assert (overdue.status, overdue.overdue) == (Status.SUBMITTED, True)
    assert {"overdue", "overdue:submitted"} <= set(overdue.lanes)
    assert (overdue.history[-1].comment, overdue.history[-1].by) == (
        "Срок рассмотрения истёк",
        "system",
    )
    [breached] = s.store.events[written:]
    assert isinstance(breached, catalog.DeadlineBreached)
    assert (breached.deadline, breached.due_date, breached.number) == (
        "review",
        date(2026, 3, 10),
        "2026-000001",
    )
    s.clock.advance(days=1)
    assert await s.scheduler.tick() == 0
    assert len(s.store.events) == written + 1


async def test_an_application_another_replica_holds_waits_for_its_claim_to_lapse(
    s: Rig,
) -> None:
    application = await submitted(s)
    s.clock.current = REVIEW_EXPIRES
    s.store.claims[application.id] = ("replica-2", REVIEW_EXPIRES + timedelta(seconds=30))
    assert await s.scheduler.tick() == 0
    assert not s.store.applications[application.id].overdue
    s.clock.advance(seconds=30)
    assert await s.scheduler.tick() == 1
    assert s.store.applications[application.id].overdue
    assert application.id not in s.store.claims  # the write let it go


async def test_a_timer_decided_on_a_changed_application_fires_later_on_the_change(
    s: Rig,
) -> None:
    application = await submitted(s)
    s.clock.current = REVIEW_EXPIRES
    taken = application.take(Actor("operator-1", "operator"), now=s.clock()).application
    s.store.racing.append(taken)  # an operator takes it between the claim and the write
    assert await s.scheduler.tick() == 0
    assert s.store.applications[application.id].status is Status.IN_REVIEW
    assert not s.store.applications[application.id].overdue
    s.clock.advance(seconds=30)  # our own claim lapses
    assert await s.scheduler.tick() == 1
    flagged = s.store.applications[application.id]
    assert (flagged.status, flagged.overdue, flagged.assignee_id) == (
        Status.IN_REVIEW,
        True,
        "operator-1",
    )


async def test_every_due_application_fires_in_one_tick(s: Rig) -> None:
    first = await submitted(s)
    s.clock.advance(hours=1)
    second = await submitted(s, CITIZEN)
    s.clock.current = REVIEW_EXPIRES
    assert await s.scheduler.tick() == 2
    assert all(s.store.applications[a.id].overdue for a in (first, second))
