"""A person's own quiet hours in their own time zone (the address region's), on fakes with the
clock moved by hand: which SMS wait (and till when), which never do (one-time codes, e-mail,
in-app), where the zone comes from (identity's answer with the contacts, learnt for staging;
the settings' zone without a region) — and that the dispatcher asks identity once a delivery.
The default window on its own: test_reminders.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from emk_common.catalog import ApplicationStatusChanged, DeliverOtp
from emk_testing import FakeClock
from notifications.adapters.sealed import Keyring
from notifications.dispatcher import Dispatcher
from notifications.domain.delivery import Delivery
from notifications.domain.notification import Preferences
from notifications.domain.reminders import MOSCOW, QuietHours
from notifications.domain.retry import RetryPolicy, State
from notifications.ports import Contacts
from notifications.service import Notifications

from .fakes import Directory, FlakyMail, FlakySms, MemoryStore, sealed_code

PHONE, EMAIL, CODE = "+79990001122", "anna@example.ru", "482913"
PRIVATE = X25519PrivateKey.generate()
# 2.3.2026, 16:30 UTC: 23:30 in Novosibirsk, 19:30 in Moscow.
EVENING = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
# 3.3.2026, 00:00 UTC: 07:00 in Novosibirsk.
SEVEN_IN_NOVOSIBIRSK = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
# Anna lives in Новосибирская область (54), Boris in Москва (77), Vera has not entered her
# personal data yet (no region).
ANNA, BORIS, VERA = "u54", "u77", "u-none"


def contacts(region: str | None) -> Contacts:
    return Contacts(PHONE, EMAIL, "Анна Игоревна", region_code=region)


@dataclass
class Rig:
    default: QuietHours = field(default_factory=lambda: QuietHours(21, 9, MOSCOW))
    store: MemoryStore = field(default_factory=MemoryStore)
    directory: Directory = field(
        default_factory=lambda: Directory(
            {ANNA: contacts("54"), BORIS: contacts("77"), VERA: contacts(None)}
        )
    )
    sms: FlakySms = field(default_factory=FlakySms)
    email: FlakyMail = field(default_factory=FlakyMail)
    clock: FakeClock = field(default_factory=lambda: FakeClock(EVENING))

    def __post_init__(self) -> None:
        self.service = Notifications(
            self.store,
            directory=self.directory,
            sms=self.sms,
            email=self.email,
            codes=Keyring({"otp-1": PRIVATE.private_bytes_raw()}),
            policy=RetryPolicy(3, timedelta(seconds=30), timedelta(minutes=10)),
            otp_policy=RetryPolicy(3, timedelta(seconds=2), timedelta(seconds=30)),
            owner="replica-a",
            lease=timedelta(seconds=60),
            clock=self.clock,
            deliveries_staged=lambda: None,
            quiet=self.default,
        )
        self.dispatcher = Dispatcher(self.service, poll_seconds=3600, concurrency=4)

    async def status_change(self, user_id: str) -> str:
        event_id = uuid.uuid4().hex
        event = ApplicationStatusChanged(
            application_id="a1", applicant_id=user_id, number="2026-000123",
            status="approved", status_label="Одобрено",
        )  # fmt: skip
        await self.service.status_changed(event, event_id, None)
        return event_id

    async def code(self, user_id: str) -> None:
        event_id = uuid.uuid4().hex
        expires_at = self.clock() + timedelta(minutes=5)
        public = PRIVATE.public_key().public_bytes_raw()
        command = DeliverOtp(
            user_id=user_id, channel="sms", purpose="login", expires_at=expires_at,
            sealed=sealed_code(public, event_id, PHONE, CODE, expires_at),
        )  # fmt: skip
        await self.service.stage_one_time_code(command, event_id, None)

    def of(self, event_id: str, channel: str) -> Delivery:
        [found] = [
            s.delivery
            for s in self.store.deliveries.values()
            if s.delivery.trigger_event_id == event_id and s.delivery.channel == channel
        ]
        return found

    def sms_texts(self) -> list[str]:
        return [text for _, text in self.sms.sent]


async def test_an_sms_at_half_past_eleven_in_novosibirsk_waits_till_seven_there() -> None:
    rig = Rig()
    chosen = await rig.service.choose(ANNA, Preferences(quiet_hours=(22, 7)))
    # Choosing asked identity: the zone is the region's, and kept for staging.
    assert (chosen.quiet_hours, chosen.time_zone) == ((22, 7), "Asia/Novosibirsk")
    event_id = await rig.status_change(ANNA)
    await rig.code(ANNA)
    sms, letter = rig.of(event_id, "sms"), rig.of(event_id, "email")
    assert sms.next_attempt_at == SEVEN_IN_NOVOSIBIRSK  # held as it was staged
    assert letter.next_attempt_at == EVENING  # e-mail is never held
    assert len(rig.store.notifications) == 1  # in-app at once
    asked = rig.directory.asked
    assert await rig.dispatcher.drain() == 2  # the code and the letter; the SMS is not due
    assert rig.sms_texts() == [
        f"Код для входа в ЭМК: {CODE}. Никому не сообщайте его, даже сотрудникам."
    ]
    assert len(rig.email.sent) == 1
    assert rig.directory.asked == asked + 1  # the letter's contacts; the code asks nobody
    rig.clock.current = SEVEN_IN_NOVOSIBIRSK - timedelta(minutes=1)
    assert await rig.dispatcher.drain() == 0
    rig.clock.current = SEVEN_IN_NOVOSIBIRSK
    assert await rig.dispatcher.drain() == 1
    assert "Одобрено" in rig.sms_texts()[-1]
    assert rig.store.of(sms.id).delivery.state is State.SENT


async def test_the_dispatcher_holds_it_from_the_region_in_identitys_answer() -> None:
    rig = Rig()
    # Chosen before the zone was learnt (as an older preferences document reads): staging
    # cannot tell the person's hour, so the SMS is due now and the dispatcher decides.
    rig.store.chosen[ANNA] = Preferences(quiet_hours=(22, 7))
    event_id = await rig.status_change(ANNA)
    sms = rig.of(event_id, "sms")
    assert sms.next_attempt_at == EVENING
    assert await rig.dispatcher.drain() == 2
    assert rig.sms.sent == []
    assert len(rig.email.sent) == 1
    assert rig.directory.asked == 2  # once per delivery: the region came with the contacts
    held = rig.store.of(sms.id)
    assert (held.delivery.state, held.attempts) == (State.PENDING, [])  # no attempt counted
    assert held.delivery.next_attempt_at == SEVEN_IN_NOVOSIBIRSK
    assert rig.store.chosen[ANNA].time_zone == "Asia/Novosibirsk"  # learnt for staging
    assert rig.store.zones_learnt == 1  # written once, not again while it stays so
    later = await rig.status_change(ANNA)
    assert rig.of(later, "sms").next_attempt_at == SEVEN_IN_NOVOSIBIRSK
    rig.clock.current = SEVEN_IN_NOVOSIBIRSK
    assert await rig.dispatcher.drain() == 3
    assert len(rig.sms.sent) == 2


async def test_the_same_moment_in_moscow_is_outside_the_default_window() -> None:
    rig = Rig()
    event_id = await rig.status_change(BORIS)
    assert await rig.dispatcher.drain() == 2
    assert "Одобрено" in rig.sms_texts()[0]  # 19:30 in Moscow: before 21:00
    assert rig.store.of(rig.of(event_id, "sms").id).delivery.state is State.SENT
    preferences = await rig.service.preferences(BORIS)
    assert (preferences.quiet_hours, preferences.time_zone) == (None, "Europe/Moscow")
    # The default window is Moscow time (21–9 МСК) wherever one lives: Anna, who chose none,
    # gets her SMS at that moment too, though it is 23:30 in Novosibirsk — a person who wants
    # quiet in their own evening chooses their window (the test above).
    anna = await rig.status_change(ANNA)
    await rig.dispatcher.drain()
    assert rig.store.of(rig.of(anna, "sms").id).delivery.state is State.SENT


async def test_a_person_without_a_region_gets_the_settings_zone() -> None:
    kaliningrad = ZoneInfo("Europe/Kaliningrad")
    rig = Rig(default=QuietHours(21, 9, kaliningrad))
    rig.clock.current = datetime(2026, 3, 2, 19, 30, tzinfo=UTC)  # 21:30 in Kaliningrad
    event_id = await rig.status_change(VERA)
    await rig.dispatcher.drain()
    assert rig.sms.sent == []
    nine = datetime(2026, 3, 3, 9, 0, tzinfo=kaliningrad)
    assert rig.store.of(rig.of(event_id, "sms").id).delivery.next_attempt_at == nine
    assert (await rig.service.preferences(VERA)).time_zone == "Europe/Kaliningrad"
    assert rig.store.zones_learnt == 0  # no region: nothing to keep, so staging never guesses
    # Her own window applies in the same zone: 22–23 lets the SMS of 21:30 go.
    await rig.service.choose(VERA, Preferences(quiet_hours=(22, 23)))
    now = await rig.status_change(VERA)
    assert rig.of(now, "sms").next_attempt_at == rig.clock()
    await rig.dispatcher.drain()
    assert len(rig.sms.sent) == 1


async def test_equal_hours_are_no_window_and_a_move_is_learnt_at_send_time() -> None:
    rig = Rig()
    await rig.service.choose(ANNA, Preferences(quiet_hours=(7, 7)))
    event_id = await rig.status_change(ANNA)  # 23:30 there, but she wants no window
    await rig.dispatcher.drain()
    assert rig.store.of(rig.of(event_id, "sms").id).delivery.state is State.SENT
    # She chooses 22–7 again, then moves to Moscow: the SMS staged on the old zone is
    # looked at again when due, in the new one (07:00 Novosibirsk is 03:00 in Moscow).
    await rig.service.choose(ANNA, Preferences(quiet_hours=(22, 7)))
    held = await rig.status_change(ANNA)
    assert rig.of(held, "sms").next_attempt_at == SEVEN_IN_NOVOSIBIRSK
    rig.directory.contacts_of[ANNA] = contacts("77")
    rig.clock.current = SEVEN_IN_NOVOSIBIRSK
    await rig.dispatcher.drain()
    seven_in_moscow = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)
    assert rig.store.of(rig.of(held, "sms").id).delivery.next_attempt_at == seven_in_moscow
    assert rig.store.chosen[ANNA].time_zone == "Europe/Moscow"


async def test_with_identity_away_the_learnt_zone_still_holds_and_no_attempt_counts() -> None:
    rig = Rig()
    rig.clock.current = SEVEN_IN_NOVOSIBIRSK - timedelta(hours=1)  # 06:00 there
    rig.store.chosen[ANNA] = Preferences(quiet_hours=(22, 7), time_zone="Asia/Novosibirsk")
    event_id = await rig.status_change(ANNA)
    sms = rig.of(event_id, "sms")
    assert sms.next_attempt_at == SEVEN_IN_NOVOSIBIRSK  # held as staged, on the learnt zone
    # Made due now (as one staged before the window would be), it meets an identity that
    # does not answer.
    rig.store.deliveries[sms.id].delivery = replace(sms, next_attempt_at=rig.clock())
    rig.directory.outages = 2
    await rig.dispatcher.drain()
    stored = rig.store.of(sms.id)
    assert (stored.delivery.state, stored.attempts) == (State.PENDING, [])
    assert stored.delivery.next_attempt_at == SEVEN_IN_NOVOSIBIRSK
    # The letter, with nobody to tell where to, is a failed attempt as before.
    letter = rig.store.of(rig.of(event_id, "email").id)
    assert letter.attempts[0].error == "IdentityUnavailableError"
    # Reading the preferences shows the zone learnt before, without asking identity; choosing
    # asks afresh, and without an answer keeps to the one learnt.
    asked = rig.directory.asked
    assert (await rig.service.preferences(ANNA)).time_zone == "Asia/Novosibirsk"
    assert rig.directory.asked == asked
    rig.directory.outages = 1
    chosen = await rig.service.choose(ANNA, Preferences(quiet_hours=(23, 6)))
    assert (chosen.quiet_hours, chosen.time_zone) == ((23, 6), "Asia/Novosibirsk")
    assert rig.directory.asked == asked + 1
