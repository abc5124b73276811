"""Reminders on the real MongoDB: planned in a transaction, claimed with a lease (no sort),
fired in one transaction with their notification and deliveries; the quiet hours' hold on
a claimed SMS. Time is a clock the test moves; the channels are fakes of our own ports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from emk_common.catalog import BookDueDatesChanged, DueItem
from emk_common.outbox import Outbox
from emk_testing import FakeClock
from notifications.adapters.sealed import Keyring
from notifications.domain.notification import Preferences
from notifications.domain.reminders import MOSCOW, QuietHours
from notifications.ports import Contacts
from notifications.reminders import ReminderLoop
from notifications.store import NotificationStore

from ..unit.fakes import Directory, FlakyMail, FlakySms
from .conftest import Dispatching

NOON = datetime(2026, 11, 29, 12, 0, tzinfo=MOSCOW)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=MOSCOW)


class Rig(Dispatching):
    sms: FlakySms
    email: FlakyMail


@pytest.fixture
async def rig(mongo: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[Rig]:
    db = mongo[f"notifications_reminders_{uuid.uuid4().hex[:8]}"]
    store = NotificationStore(db, Outbox(8))
    await store.ensure_indexes()
    directory = Directory({"u1": Contacts("+79990001122", "anna@example.ru", "Анна")})
    yield Rig(
        store, db, directory, FlakySms(), FlakyMail(), Keyring({}), FakeClock(NOON), lambda: None
    )
    await mongo.drop_database(db.name)


async def planned(rig: Rig, *due: DueItem, book: str = "b1") -> None:
    event = BookDueDatesChanged(book_id=book, holder_id="u1", due=list(due))

    async def plan(session: Any) -> None:
        await rig.service().due_dates_changed(event, uuid.uuid4().hex, session)

    await rig.store.in_transaction(plan)


async def states(rig: Rig) -> dict[str, str]:
    return {doc["_id"]: doc["state"] async for doc in rig.db["reminders"].find({})}


EXAM = DueItem(item_id="exam-1", kind="periodic_exam", due_date=date(2027, 3, 12))


async def test_replicas_firing_together_fire_each_reminder_once(rig: Rig) -> None:
    for book in range(12):  # each inside its 7-day window: due at once
        item = DueItem(item_id="e", kind="periodic_exam", due_date=date(2026, 12, 4))
        await planned(rig, item, book=f"b{book}")
    loops = [ReminderLoop(rig.service(owner), poll_seconds=3600) for owner in "abc"]
    fired = await asyncio.gather(*(loop.drain() for loop in loops))
    assert sum(fired) == 12
    assert set((await states(rig)).values()) == {"sent"}
    assert await rig.db["notifications"].count_documents({"kind": "reminder"}) == 12
    assert await rig.db["deliveries"].count_documents({"kind": "reminder"}) == 24


async def test_a_replica_gone_between_claim_and_fire_leaves_it_to_the_lease(
    rig: Rig,
) -> None:
    await planned(rig, EXAM)
    rig.clock.current = at(date(2027, 2, 10), 10, 5)  # the 30-day moment
    gone = await rig.service("replica-a").claim_reminder()
    assert gone is not None
    survivor = ReminderLoop(rig.service("replica-b"), poll_seconds=3600)
    assert await survivor.drain() == 0  # leased
    rig.clock.advance(seconds=61)
    assert await survivor.drain() == 1
    assert await rig.service("replica-a").fire(gone) is False  # back, too late
    assert await rig.db["notifications"].count_documents({"kind": "reminder"}) == 1
    [notification] = await rig.db["notifications"].find({"kind": "reminder"}).to_list()
    assert notification["text"].startswith("Через 30 дней, 12.03.2027")
    assert notification["book_id"] == "b1"


async def test_a_moved_due_date_and_new_preferences_replan_the_pending_ones(
    rig: Rig,
) -> None:
    await planned(rig, EXAM)
    moved = DueItem(item_id="exam-2", kind="periodic_exam", due_date=date(2027, 11, 20))
    await planned(rig, moved)
    assert await states(rig) == {
        "b1:exam-1:2027-03-12:30": "cancelled",
        "b1:exam-1:2027-03-12:7": "cancelled",
        "b1:exam-2:2027-11-20:30": "pending",
        "b1:exam-2:2027-11-20:7": "pending",
    }
    await rig.service().choose("u1", Preferences(True, True, (3,)))
    after = {k: v for k, v in (await states(rig)).items() if v == "pending"}
    assert after == {"b1:exam-2:2027-11-20:3": "pending"}
    rig.clock.current = at(date(2027, 11, 17), 10)
    assert await ReminderLoop(rig.service(), poll_seconds=3600).drain() == 1


async def test_an_sms_claimed_in_the_quiet_hours_waits_for_nine(rig: Rig) -> None:
    await planned(rig, DueItem(item_id="e", kind="attestation", due_date=date(2026, 12, 4)))
    assert await ReminderLoop(rig.service(), poll_seconds=3600).drain() == 1
    rig.clock.current = at(date(2026, 11, 29), 22)
    quiet = rig.service(quiet=QuietHours(21, 9, MOSCOW))
    while (delivery := await quiet.claim_due()) is not None:
        await quiet.deliver(delivery)
    assert rig.sms.sent == []
    assert len(rig.email.sent) == 1
    [sms] = await rig.db["deliveries"].find({"channel": "sms"}).to_list()
    assert (sms["state"], sms["attempts"]) == ("pending", [])
    assert sms["next_attempt_at"] == at(date(2026, 11, 30), 9)
