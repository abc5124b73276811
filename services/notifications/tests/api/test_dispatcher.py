"""The dispatcher: claims due deliveries, asks for contacts, sends, records, retries later.

The deliveries live in the real MongoDB; the senders and the contact directory are fakes
of our own ports, and time is a clock the test moves (no waiting for a backoff to pass).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from emk_common.catalog import SealedBox
from emk_common.outbox import Outbox
from emk_testing import FakeClock, eventually
from notifications.adapters.sealed import Keyring
from notifications.domain.delivery import Delivery
from notifications.domain.notification import ApplicationRef
from notifications.domain.retry import State
from notifications.domain.texts import APPLICATION_STATUS, StatusChange
from notifications.ports import Contacts
from notifications.store import NotificationStore

from ..unit.fakes import START, Directory, FlakyMail, FlakySms
from .conftest import Dispatching

PHONE, EMAIL = "+79990001122", "anna@example.ru"
CHANGE = StatusChange(
    number="2026-000123",
    status="clarification_requested",
    comment="Пересканируйте паспорт",
    documents=("passport",),
    status_label="Требуется уточнение",  # as the applications service names them
    document_labels={"passport": "Скан паспорта"},
)


class Rig(Dispatching):
    directory: Directory
    sms: FlakySms
    email: FlakyMail

    async def pending(self, channel: str = "sms", user_id: str = "u1") -> str:
        delivery_id = uuid.uuid4().hex
        delivery = Delivery.of_message(
            delivery_id=delivery_id,
            channel="sms" if channel == "sms" else "email",
            user_id=user_id,
            notification_id=f"n-{delivery_id}",
            trigger_event_id=f"e-{delivery_id}",
            kind=APPLICATION_STATUS,
            message=CHANGE,
            subject=ApplicationRef("a1", CHANGE.number, CHANGE.status, CHANGE.status_label),
            now=self.clock(),
        )
        await self.store.stage([delivery], None)
        return delivery_id


@pytest.fixture
async def rig(mongo: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[Rig]:
    db = mongo[f"notifications_dispatch_{uuid.uuid4().hex[:8]}"]
    store = NotificationStore(db, Outbox(8))
    await store.ensure_indexes()
    directory = Directory({"u1": Contacts(PHONE, EMAIL, "Анна Игоревна")})
    yield Rig(
        store, db, directory, FlakySms(), FlakyMail(), Keyring({}), FakeClock(START), lambda: None
    )
    await mongo.drop_database(db.name)


def events_of(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e["type"].split(".")[2], json.loads(e["body"])["data"]) for e in doc.get("_outbox", [])
    ]


async def test_a_due_delivery_is_sent_once_and_recorded_without_the_destination(rig: Rig) -> None:
    sms_id, mail_id = await rig.pending("sms"), await rig.pending("email")
    dispatcher = rig.dispatcher()
    assert await dispatcher.drain() == 2
    assert await dispatcher.drain() == 0
    [(to, text)] = rig.sms.sent
    assert to == PHONE
    assert text.startswith("ЭМК: заявление № 2026-000123 — «Требуется уточнение».")
    [(to, subject, body)] = rig.email.sent
    assert (to, subject) == (EMAIL, "Заявление № 2026-000123: Требуется уточнение — ЭМК")
    assert body.startswith("Здравствуйте, Анна Игоревна!")
    for delivery_id in (sms_id, mail_id):
        doc = await rig.get(delivery_id)
        assert doc["state"] == "sent"
        assert [(a["n"], a["outcome"], a["error"]) for a in doc["attempts"]] == [(1, "sent", None)]
        assert doc["claimed_by"] is None
        [(kind, data)] = events_of(doc)
        assert kind == "NotificationSent"
        assert data["notification_id"] == f"n-{delivery_id}"
        assert PHONE not in str(doc)
        assert EMAIL not in str(doc)
        assert "Анна" not in str(doc)


async def test_a_failure_waits_out_a_doubling_pause_then_gives_up_and_reports(rig: Rig) -> None:
    delivery_id = await rig.pending("sms")
    rig.sms.failures = 99
    dispatcher = rig.dispatcher()

    assert await dispatcher.drain() == 1
    doc = await rig.get(delivery_id)
    assert (doc["state"], doc["attempt_count"]) == ("pending", 1)
    assert doc["next_attempt_at"] == rig.clock() + timedelta(seconds=30)
    assert events_of(doc) == []

    rig.clock.advance(seconds=29)
    assert await dispatcher.drain() == 0  # not due yet
    rig.clock.advance(seconds=1)
    assert await dispatcher.drain() == 1
    doc = await rig.get(delivery_id)
    assert doc["next_attempt_at"] == rig.clock() + timedelta(seconds=60)

    rig.clock.advance(seconds=60)
    assert await dispatcher.drain() == 1
    doc = await rig.get(delivery_id)
    assert doc["state"] == "failed"
    assert [(a["n"], a["outcome"], a["error"]) for a in doc["attempts"]] == [
        (1, "error", "ConnectionError"),
        (2, "error", "ConnectionError"),
        (3, "error", "ConnectionError"),
    ]
    [(kind, data)] = events_of(doc)
    assert kind == "NotificationFailed"
    assert (data["attempts"], data["error_code"], data["channel"]) == (3, "ConnectionError", "sms")

    rig.clock.advance(seconds=3600)
    assert await dispatcher.drain() == 0  # failed is final
    assert rig.sms.sent == []


async def test_a_retry_that_succeeds_is_reported_sent(rig: Rig) -> None:
    delivery_id = await rig.pending("email")
    rig.email.failures = 1
    dispatcher = rig.dispatcher()
    await dispatcher.drain()
    rig.clock.advance(seconds=30)
    await dispatcher.drain()
    doc = await rig.get(delivery_id)
    assert doc["state"] == "sent"
    assert [a["outcome"] for a in doc["attempts"]] == ["error", "sent"]
    assert [kind for kind, _ in events_of(doc)] == ["NotificationSent"]
    assert len(rig.email.sent) == 1


async def test_identity_away_is_a_failed_attempt_and_is_retried(rig: Rig) -> None:
    delivery_id = await rig.pending("sms")
    rig.directory.outages = 1
    dispatcher = rig.dispatcher()
    await dispatcher.drain()
    doc = await rig.get(delivery_id)
    assert (doc["state"], doc["attempts"][0]["error"]) == ("pending", "IdentityUnavailableError")
    rig.clock.advance(seconds=30)
    await dispatcher.drain()
    assert (await rig.get(delivery_id))["state"] == "sent"
    assert len(rig.sms.sent) == 1


async def test_no_verified_contact_is_recorded_and_not_retried(rig: Rig) -> None:
    rig.directory.contacts_of["u2"] = Contacts(phone=PHONE, email=None)
    delivery_id = await rig.pending("email", user_id="u2")
    dispatcher = rig.dispatcher()
    await dispatcher.drain()
    doc = await rig.get(delivery_id)
    assert doc["state"] == "no_contact"
    assert [(a["outcome"], a["error"]) for a in doc["attempts"]] == [("no_contact", "no_contact")]
    [(kind, data)] = events_of(doc)
    assert (kind, data["error_code"], data["attempts"]) == ("NotificationFailed", "no_contact", 1)
    rig.clock.advance(seconds=3600)
    assert await dispatcher.drain() == 0
    assert rig.email.sent == []


async def test_a_delivery_that_cannot_be_rendered_fails_like_any_attempt(rig: Rig) -> None:
    broken = await rig.pending("sms")
    await rig.db["deliveries"].update_one({"_id": broken}, {"$unset": {"message.status": ""}})
    fine = await rig.pending("sms")
    dispatcher = rig.dispatcher()
    assert await dispatcher.drain() == 2
    doc = await rig.get(broken)
    assert (doc["state"], doc["attempts"][0]["error"]) == ("pending", "KeyError")
    assert (await rig.get(fine))["state"] == "sent"


async def test_two_replicas_draining_together_send_each_delivery_once(rig: Rig) -> None:
    ids = [await rig.pending("sms") for _ in range(30)]
    a, b = rig.dispatcher("replica-a", 3), rig.dispatcher("replica-b", 3)
    tried = await asyncio.gather(a.drain(), b.drain())
    assert sum(tried) == 30
    assert len(rig.sms.sent) == 30
    states = [(await rig.get(i))["state"] for i in ids]
    assert states == ["sent"] * 30


async def test_a_replica_that_dies_mid_send_leaves_its_lease_to_expire(rig: Rig) -> None:
    delivery_id = await rig.pending("sms")
    # replica-a claims it and never comes back.
    stale = await rig.store.claim(rig.clock(), timedelta(seconds=60), "replica-a")
    assert stale is not None
    survivor = rig.dispatcher("replica-b")
    assert await survivor.drain() == 0  # still leased
    rig.clock.advance(seconds=61)
    assert await survivor.drain() == 1
    doc = await rig.get(delivery_id)
    assert (doc["state"], doc["attempt_count"]) == ("sent", 1)
    # replica-a's late outcome cannot overwrite what replica-b recorded.
    late = await rig.service("replica-a").deliver(stale)
    assert late.state is State.SENT
    assert (await rig.get(delivery_id))["attempts"] == doc["attempts"]


async def test_a_wake_makes_the_running_loop_send_at_once(rig: Rig) -> None:
    dispatcher = rig.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    try:

        async def looked() -> bool:
            return dispatcher.rounds >= 1

        await eventually(looked, what="the loop's first look")  # and now it waits an hour
        await rig.pending("sms")
        dispatcher.wake()  # poll_seconds is an hour: only the wake can explain a quick send

        async def sent() -> int:
            return len(rig.sms.sent)

        await eventually(sent, within=5, what="the SMS after a wake")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_one_time_code_is_claimed_before_a_backlog_of_older_status_messages(
    rig: Rig,
) -> None:
    backlog = [await rig.pending("sms") for _ in range(3)]
    rig.clock.advance(seconds=60)  # the code arrives a minute after the backlog
    code_id = uuid.uuid4().hex
    box = SealedBox(kid="otp-1", ephemeral_public_key="", nonce="", ciphertext="")
    code = Delivery.of_code(
        delivery_id=code_id,
        channel="sms",
        user_id="u1",
        trigger_event_id=f"e-{code_id}",
        purpose="login",
        expires_at=rig.clock() + timedelta(minutes=5),
        sealed=box,
        now=rig.clock(),
    )
    await rig.store.stage([code], None)
    first = await rig.store.claim(rig.clock(), timedelta(seconds=60), "replica-a")
    second = await rig.store.claim(rig.clock(), timedelta(seconds=60), "replica-a")
    assert first is not None
    assert first.id == code_id
    assert second is not None
    assert second.id == backlog[0]  # then the longest-waiting of the rest


async def test_sms_past_the_hourly_limit_fold_into_one_summary_on_mongodb(rig: Rig) -> None:
    ids = [await rig.pending("sms") for _ in range(4)]
    limited = rig.service(sms_per_hour=2)
    for delivery_id in ids:  # one at a time, as a person's messages arrive
        claimed = await limited.claim_due()
        assert claimed is not None
        assert claimed.id == delivery_id
        await limited.deliver(claimed)
    assert [(await rig.get(i))["state"] for i in ids] == ["sent", "sent", "folded", "folded"]
    [summary] = await rig.db["deliveries"].find({"kind": "sms_summary"}).to_list()
    assert summary["message"] == {"count": 2}
    assert (summary["state"], summary["channel"]) == ("pending", "sms")
    assert summary["next_attempt_at"] == rig.clock() + timedelta(hours=1)
    assert await limited.claim_due() is None  # not before the hour allows
    rig.clock.advance(hours=1)
    claimed = await limited.claim_due()
    assert claimed is not None
    await limited.deliver(claimed)
    assert rig.sms.sent[-1][1] == "ЭМК: ещё 2 новых уведомления — в личном кабинете."
