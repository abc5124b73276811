"""The hourly SMS limit per person: past it, status messages and reminders are folded into
one summary SMS sent when the hour allows; one-time codes are never held; e-mail and in-app
go as always."""

from __future__ import annotations

import uuid
from datetime import timedelta

from emk_common.catalog import ApplicationStatusChanged, DeliverOtp
from emk_testing import FakeClock
from notifications.domain.retry import State

from .fakes import MemoryStore, sealed_code
from .test_reminders import NOON, PHONE, PRIVATE, Replica


async def changed(replica: Replica, number: int) -> None:
    event = ApplicationStatusChanged(
        application_id=f"a{number}", applicant_id="u1", number=f"2026-00000{number}",
        status="in_review", status_label="В обработке",
    )  # fmt: skip
    await replica.service.status_changed(event, uuid.uuid4().hex, None)


async def test_sms_past_the_hourly_limit_become_one_summary_sent_when_the_hour_allows() -> None:
    clock, store = FakeClock(NOON), MemoryStore()
    replica = Replica(store, clock, "a", sms_per_hour=2)
    for number in range(1, 5):
        await changed(replica, number)
        await replica.send_due()
        clock.advance(minutes=1)
    texts = [text for _, text in replica.sms.sent]
    assert len(texts) == 2  # the first two; the next two folded
    assert len(replica.email.sent) == 4  # e-mail is never held back
    assert len(store.notifications) == 4  # nor in-app
    folded = [s for s in store.deliveries.values() if s.delivery.state is State.FOLDED]
    assert len(folded) == 2
    [summary] = [s.delivery for s in store.deliveries.values() if s.delivery.kind == "sms_summary"]
    assert summary.next_attempt_at == NOON + timedelta(hours=1)  # the first SMS an hour old
    await replica.send_due()
    assert len(replica.sms.sent) == 2  # not yet
    clock.current = NOON + timedelta(hours=1)
    await replica.send_due()
    assert replica.sms.sent[-1][1] == "ЭМК: ещё 2 новых уведомления — в личном кабинете."


async def test_a_one_time_code_is_never_held_by_the_limit() -> None:
    clock, store = FakeClock(NOON), MemoryStore()
    replica = Replica(store, clock, "a", sms_per_hour=1)
    await changed(replica, 1)
    await replica.send_due()
    event_id = uuid.uuid4().hex
    expires = clock() + timedelta(minutes=5)
    code = DeliverOtp(
        user_id="u1", channel="sms", purpose="login", expires_at=expires,
        sealed=sealed_code(PRIVATE.public_key().public_bytes_raw(), event_id, PHONE, "551177",
                           expires),
    )  # fmt: skip
    await replica.service.stage_one_time_code(code, event_id, None)
    await replica.send_due()
    assert replica.sms.sent[-1][1].startswith("Код для входа в ЭМК: 551177")
