"""Reminders before due dates and the quiet hours, on fakes with the clock moved by hand:
what is planned, what fires (once, across replicas and a lost claim), what a moved due date
or new preferences cancel, and which SMS wait for the morning."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from emk_common.catalog import (
    ApplicationStatusChanged,
    BookDueDatesChanged,
    BookValidityChanged,
    DeliverOtp,
    DueItem,
    DueKind,
)
from emk_testing import FakeClock
from notifications.adapters.sealed import Keyring
from notifications.domain import texts
from notifications.domain.notification import DueRef, Preferences
from notifications.domain.reminders import MOSCOW, QuietHours, ReminderState, plan
from notifications.domain.retry import RetryPolicy, State
from notifications.ports import Contacts
from notifications.service import Notifications

from .fakes import Directory, FlakyMail, FlakySms, MemoryStore, sealed_code

PHONE, EMAIL = "+79990001122", "anna@example.ru"
PRIVATE = X25519PrivateKey.generate()
# 29.11.2026, 12:00 in Moscow.
NOON = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def item(due: date, kind: DueKind = "periodic_exam", item_id: str = "exam-1") -> DueItem:
    return DueItem(item_id=item_id, kind=kind, due_date=due)


def moscow(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=MOSCOW)


class Replica:
    """One replica of the service over a shared store."""

    def __init__(
        self,
        store: MemoryStore,
        clock: FakeClock,
        owner: str,
        quiet: QuietHours | None = None,
        sms_per_hour: int = 0,
    ) -> None:
        self.sms, self.email = FlakySms(), FlakyMail()
        self.service = Notifications(
            store,
            directory=Directory({"u1": Contacts(PHONE, EMAIL, "Анна Игоревна")}),
            sms=self.sms,
            email=self.email,
            codes=Keyring({"otp-1": PRIVATE.private_bytes_raw()}),
            policy=RetryPolicy(3, timedelta(seconds=30), timedelta(minutes=10)),
            otp_policy=RetryPolicy(3, timedelta(seconds=2), timedelta(seconds=30)),
            owner=owner,
            lease=timedelta(seconds=60),
            clock=clock,
            deliveries_staged=lambda: None,
            quiet=quiet,
            reminder_hour=10,
            sms_per_hour=sms_per_hour,
        )

    async def fire_due(self) -> int:
        fired = 0
        while (reminder := await self.service.claim_reminder()) is not None:
            fired += await self.service.fire(reminder)
        return fired

    async def send_due(self) -> None:
        while (delivery := await self.service.claim_due()) is not None:
            await self.service.deliver(delivery)


async def due_dates(replica: Replica, *due: DueItem, book: str = "b1") -> None:
    event = BookDueDatesChanged(book_id=book, holder_id="u1", due=list(due))
    await replica.service.due_dates_changed(event, uuid.uuid4().hex, None)


def reminders_told(store: MemoryStore) -> list[str]:
    return [n.text for n in store.notifications.values() if n.kind == texts.REMINDER]


# --- planning ---------------------------------------------------------------------------------


def test_a_plan_reminds_at_each_chosen_day_before_at_ten_in_moscow() -> None:
    due = date(2027, 3, 12)
    planned = plan(user_id="u1", book_id="b1", due=[item(due)], days_before=(30, 7), now=NOON,
                   send_hour=10)  # fmt: skip
    assert [(r.days_before, r.send_at) for r in planned] == [
        (30, moscow(date(2027, 2, 10), 10)),
        (7, moscow(date(2027, 3, 5), 10)),
    ]
    assert planned[0].id == "b1:exam-1:2027-03-12:30"


def test_missed_moments_with_the_date_ahead_give_one_reminder_at_once_and_none_for_past_dates() -> (
    None
):
    five_days = date(2026, 12, 4)
    planned = plan(
        user_id="u1", book_id="b1", due=[item(five_days), item(date(2026, 11, 29), item_id="x"),
                                          item(date(2026, 10, 1), item_id="y")],
        days_before=(30, 7), now=NOON, send_hour=10,
    )  # fmt: skip
    assert [(r.item_id, r.days_before) for r in planned] == [("exam-1", 7)]
    assert planned[0].send_at <= NOON  # due at once
    assert planned[0].days_left(NOON) == 5


# --- firing -----------------------------------------------------------------------------------


async def test_a_reminder_fires_once_at_its_moment_with_every_channel() -> None:
    clock, store = FakeClock(NOON), MemoryStore()
    replica = Replica(store, clock, "a")
    await due_dates(replica, item(date(2027, 3, 12)))
    assert await replica.fire_due() == 0  # nothing due yet
    clock.current = moscow(date(2027, 3, 5), 10, 1)
    # The 30-day moment passed unseen (the service was down): one reminder, not two.
    assert await replica.fire_due() == 1
    assert await replica.fire_due() == 0  # sent once
    states = sorted(r.state.value for r in store.reminders.of_book("b1"))
    assert states == ["cancelled", "sent"]
    [told] = reminders_told(store)
    assert told.startswith("Через 7 дней, 12.03.2027, истекает срок периодического медицинского")
    await replica.send_due()
    assert [text for _, text in replica.sms.sent] == [
        "ЭМК: через 7 дней, 12.03.2027, истекает срок периодического медицинского осмотра."
    ]
    [(_, subject, _)] = replica.email.sent
    assert subject == "Напоминание: срок периодического медицинского осмотра — ЭМК"
    # The delivery's id is the key a deduplicating gateway gets.
    assert replica.sms.keys == [
        d for d, s in store.deliveries.items() if s.delivery.channel == "sms"
    ]
    [notification] = [n for n in store.notifications.values() if n.kind == texts.REMINDER]
    assert notification.subject == DueRef("b1", "exam-1", date(2027, 3, 12))
    assert notification.book_id == "b1"


async def test_two_replicas_never_fire_one_reminder_twice_even_after_a_lost_claim() -> None:
    clock, store = FakeClock(NOON), MemoryStore()
    first, second = Replica(store, clock, "a"), Replica(store, clock, "b")
    await due_dates(first, item(date(2026, 12, 4)))  # inside 7 days: due at once
    claimed = await first.service.claim_reminder()
    assert claimed is not None
    assert await second.service.claim_reminder() is None  # held by the first
    clock.advance(seconds=61)  # the first replica died between claim and send: its lease ends
    assert await second.fire_due() == 1
    assert await first.service.fire(claimed) is False  # came back: the claim is gone
    assert len(reminders_told(store)) == 1
    assert len(store.deliveries) == 2  # one SMS, one e-mail


async def test_a_moved_due_date_cancels_what_was_pending_and_plans_anew() -> None:
    clock, store = FakeClock(NOON), MemoryStore()
    replica = Replica(store, clock, "a")
    await due_dates(replica, item(date(2027, 3, 12)))
    await due_dates(replica, item(date(2027, 11, 20)))  # a new exam recorded
    states = {r.id: r.state for r in store.reminders.of_book("b1")}
    assert states == {
        "b1:exam-1:2027-03-12:30": ReminderState.CANCELLED,
        "b1:exam-1:2027-03-12:7": ReminderState.CANCELLED,
        "b1:exam-1:2027-11-20:30": ReminderState.PENDING,
        "b1:exam-1:2027-11-20:7": ReminderState.PENDING,
    }
    clock.current = moscow(date(2027, 3, 5), 12)
    assert await replica.fire_due() == 0  # the old date's reminder is gone


async def test_the_same_list_again_plans_nothing_new_and_sends_nothing_twice() -> None:
    clock, store = FakeClock(NOON), MemoryStore()
    replica = Replica(store, clock, "a")
    await due_dates(replica, item(date(2026, 12, 4)))
    assert await replica.fire_due() == 1
    await due_dates(replica, item(date(2026, 12, 4)))  # redelivered, or another event's list
    assert await replica.fire_due() == 0
    assert len(reminders_told(store)) == 1


async def test_new_preferences_plan_the_pending_reminders_again() -> None:
    clock, store = FakeClock(NOON), MemoryStore()
    replica = Replica(store, clock, "a")
    await due_dates(replica, item(date(2027, 3, 12)), item(date(2027, 6, 1), "vaccination", "v1"))
    await replica.service.choose("u1", Preferences(True, True, (14, 1)))
    pending = sorted(
        r.id for r in store.reminders.of_book("b1") if r.state is ReminderState.PENDING
    )
    assert pending == [
        "b1:exam-1:2027-03-12:1",
        "b1:exam-1:2027-03-12:14",
        "b1:v1:2027-06-01:1",
        "b1:v1:2027-06-01:14",
    ]
    clock.current = moscow(date(2027, 5, 18), 10)
    assert await replica.fire_due() == 1  # the exam's date passed unseen: not reminded of
    [told] = reminders_told(store)
    assert told.startswith("Через 14 дней, 01.06.2027, истекает срок очередной вакцинации.")


async def test_a_book_that_stops_being_valid_is_told_once() -> None:
    clock, store = FakeClock(NOON), MemoryStore()
    replica = Replica(store, clock, "a")

    async def validity(status: str) -> None:
        event = BookValidityChanged(book_id="b1", holder_id="u1", status=status)
        await replica.service.validity_changed(event, uuid.uuid4().hex, None)

    await validity("valid")
    await validity("not_valid")
    await validity("not_valid")  # suspended after it expired: not told again
    told = [n for n in store.notifications.values() if n.kind == texts.BOOK_NOT_VALID]
    assert [n.title for n in told] == ["Медицинская книжка не действует"]
    await validity("valid")
    await validity("not_valid")
    assert len([n for n in store.notifications.values() if n.kind == texts.BOOK_NOT_VALID]) == 2
    await replica.send_due()
    assert "больше не действует" in replica.sms.sent[0][1]


# --- quiet hours ------------------------------------------------------------------------------


async def test_quiet_hours_hold_an_sms_till_nine_but_not_a_code_nor_email_nor_in_app() -> None:
    late = moscow(date(2026, 11, 29), 23)
    clock, store = FakeClock(late), MemoryStore()
    replica = Replica(store, clock, "a", quiet=QuietHours(21, 9, MOSCOW))
    event = ApplicationStatusChanged(application_id="a1", applicant_id="u1", number="2026-000123",
                                     status="approved", status_label="Одобрено")  # fmt: skip
    await replica.service.status_changed(event, uuid.uuid4().hex, None)
    box_event = uuid.uuid4().hex
    code = DeliverOtp(
        user_id="u1", channel="sms", purpose="login", expires_at=late + timedelta(minutes=5),
        sealed=sealed_code(PRIVATE.public_key().public_bytes_raw(), box_event, PHONE, "482913",
                           late + timedelta(minutes=5)),
    )  # fmt: skip
    await replica.service.stage_one_time_code(code, box_event, None)
    await replica.send_due()
    assert [text for _, text in replica.sms.sent] == [
        "Код для входа в ЭМК: 482913. Никому не сообщайте его, даже сотрудникам."
    ]
    assert len(replica.email.sent) == 1  # the e-mail went
    assert len(store.notifications) == 1  # in-app at once
    [held] = [s.delivery for s in store.deliveries.values() if s.delivery.kind != "one_time_code"
              and s.delivery.channel == "sms"]  # fmt: skip
    assert held.next_attempt_at == moscow(date(2026, 11, 30), 9)
    clock.current = moscow(date(2026, 11, 30), 9)
    await replica.send_due()
    assert "Одобрено" in replica.sms.sent[-1][1]


async def test_an_sms_due_in_the_quiet_hours_goes_back_unsent_and_uncounted() -> None:
    clock, store = FakeClock(moscow(date(2026, 11, 29), 20, 59)), MemoryStore()
    replica = Replica(store, clock, "a", quiet=QuietHours(21, 9, MOSCOW))
    await due_dates(replica, item(date(2026, 12, 4)))
    assert await replica.fire_due() == 1  # staged at 20:59, before the window
    clock.current = moscow(date(2026, 11, 29), 21, 30)  # the dispatcher reaches it at 21:30
    await replica.send_due()
    assert replica.sms.sent == []
    [sms] = [s for s in store.deliveries.values() if s.delivery.channel == "sms"]
    assert sms.delivery.state is State.PENDING
    assert sms.attempts == []
    assert sms.delivery.next_attempt_at == moscow(date(2026, 11, 30), 9)
