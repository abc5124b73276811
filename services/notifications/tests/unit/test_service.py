"""The use cases on fakes of the ports and of the store: telling a person (in-app at once,
a delivery per chosen channel), staging a code, reading, and one dispatch after another
with the clock moved by hand. No server: the store's own behaviour (claims between
replicas, what a document holds) is tested on MongoDB in tests/api."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from emk_common.auth import Principal
from emk_common.catalog import (
    AccountLocked,
    ApplicationStatusChanged,
    BookAccessGranted,
    DeliverOtp,
    NotificationFailed,
    NotificationSent,
    RegistrationAttempted,
    ShareChecked,
)
from emk_common.problems import Problem
from emk_testing import FakeClock
from notifications.adapters.sealed import Keyring
from notifications.dispatcher import Dispatcher
from notifications.domain.delivery import Unreadable, mask
from notifications.domain.notification import Preferences, ShareRef
from notifications.domain.retry import RetryPolicy, State
from notifications.ports import Contacts
from notifications.service import Notifications

from .fakes import START, Directory, FlakyMail, FlakySms, MemoryStore, sealed_code

PHONE, EMAIL, CODE = "+79990001122", "anna@example.ru", "482913"
PRIVATE = X25519PrivateKey.generate()


@dataclass
class Rig:
    store: MemoryStore = field(default_factory=MemoryStore)
    directory: Directory = field(
        default_factory=lambda: Directory({"u1": Contacts(PHONE, EMAIL, "Анна Игоревна")})
    )
    sms: FlakySms = field(default_factory=FlakySms)
    email: FlakyMail = field(default_factory=FlakyMail)
    clock: FakeClock = field(default_factory=lambda: FakeClock(START))
    wakes: int = 0

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
            deliveries_staged=self._woken,
        )
        self.dispatcher = Dispatcher(self.service, poll_seconds=3600, concurrency=4)

    def _woken(self) -> None:
        self.wakes += 1

    async def status_change(self, status: str = "clarification_requested", **rest: str) -> str:
        event_id = uuid.uuid4().hex
        event = ApplicationStatusChanged(
            application_id="a1", applicant_id=rest.pop("user_id", "u1"), number="2026-000123",
            status=status, status_label="Требуется уточнение", comment="Пересканируйте паспорт",
            documents=["passport"], document_labels={"passport": "Скан паспорта"},
        )  # fmt: skip
        await self.service.status_changed(event, event_id, None)
        return event_id

    async def code(self, expires_in: timedelta = timedelta(minutes=5)) -> str:
        event_id = str(uuid.uuid4())
        expires_at = self.clock() + expires_in
        public = PRIVATE.public_key().public_bytes_raw()
        command = DeliverOtp(
            user_id="u1", channel="sms", purpose="login", expires_at=expires_at,
            sealed=sealed_code(public, event_id, PHONE, CODE, expires_at),
        )  # fmt: skip
        await self.service.stage_one_time_code(command, event_id, None)
        return event_id

    def deliveries_of(self, event_id: str) -> list[str]:
        return [
            d.delivery.id
            for d in self.store.deliveries.values()
            if d.delivery.trigger_event_id == event_id
        ]


async def test_a_status_change_is_shown_in_app_and_staged_per_channel() -> None:
    rig = Rig()
    event_id = await rig.status_change()
    [shown] = rig.store.notifications.values()
    assert shown.title == "Заявление № 2026-000123: Требуется уточнение"
    assert shown.status_label == "Требуется уточнение"  # the event's label, as it came
    assert "Скан паспорта" in shown.text
    assert (shown.trigger_event_id, shown.created_at, shown.read_at) == (event_id, START, None)
    [envelope] = rig.store.notification_events
    assert envelope.type.endswith(".NotificationSent.v1")
    assert envelope.data["channel"] == "in_app"
    channels = sorted(rig.store.of(i).delivery.channel for i in rig.deliveries_of(event_id))
    assert channels == ["email", "sms"]
    assert rig.wakes == 1
    assert rig.sms.sent == []  # sent by the dispatcher, not while handling the event


async def test_turned_off_channels_get_no_delivery_but_in_app_is_always_on() -> None:
    rig = Rig()
    await rig.service.choose("u1", Preferences(sms=False, email=False))
    event_id = await rig.status_change()
    assert rig.deliveries_of(event_id) == []
    assert len(rig.store.notifications) == 1


async def test_book_access_is_told_to_the_holder() -> None:
    rig = Rig()
    event = BookAccessGranted(
        book_id="b1", holder_id="u1", grant_id="g1", organization_id="1027700132195",
        organization_name="Поликлиника № 1", granted_by="w1",
        expires_at=datetime(2026, 12, 29, 9, tzinfo=UTC), via="identifiers",
    )  # fmt: skip
    await rig.service.book_access_granted(event, "e1", None)
    [shown] = rig.store.notifications.values()
    assert (shown.kind, shown.book, shown.status_label) == ("book_access", shown.subject, None)
    assert "«Поликлиника № 1» получила доступ" in shown.text
    assert await rig.dispatcher.drain() == 2
    [(to, text)] = rig.sms.sent
    assert (to, text.startswith("ЭМК: «Поликлиника № 1»")) == (PHONE, True)


def _share_checked(holder_id: str = "u1") -> ShareChecked:
    return ShareChecked(
        book_id="b1", holder_id=holder_id, share_id="s1",
        checked_at=datetime(2026, 11, 29, 9, 30, tzinfo=UTC),
    )  # fmt: skip


async def test_a_check_of_the_book_is_told_in_app_and_on_each_channel() -> None:
    rig = Rig()
    await rig.service.book_checked(_share_checked(), "e1", None)
    [shown] = rig.store.notifications.values()
    assert (shown.kind, shown.subject) == ("book_checked", ShareRef("b1", "s1"))
    assert (shown.book_id, shown.book, shown.application) == ("b1", None, None)
    assert shown.title == "Проверка медицинской книжки"
    assert "29.11.2026 в 12:30 (МСК)" in shown.text
    assert (shown.user_id, shown.trigger_event_id) == ("u1", "e1")
    [envelope] = rig.store.notification_events
    assert envelope.data["channel"] == "in_app"
    staged = [rig.store.of(i).delivery for i in rig.deliveries_of("e1")]
    assert sorted(d.channel for d in staged) == ["email", "sms"]
    assert {d.kind for d in staged} == {"book_checked"}
    assert (rig.wakes, rig.sms.sent) == (1, [])
    assert await rig.dispatcher.drain() == 2
    [(to, text)] = rig.sms.sent
    assert (to, text.startswith("ЭМК: вашу медицинскую книжку проверили")) == (PHONE, True)
    [(address, subject, body)] = rig.email.sent
    assert (address, subject) == (EMAIL, "Проверка медицинской книжки — ЭМК")
    assert body.startswith("Здравствуйте, Анна Игоревна!")
    reports = [e for i in rig.deliveries_of("e1") for e in rig.store.of(i).events]
    assert {r.data["channel"] for r in reports} == {"sms", "email"}
    assert {r.data["notification_id"] for r in reports} == {shown.id}


@pytest.mark.parametrize(
    ("sms", "email", "channels"),
    [(True, False, ["sms"]), (False, True, ["email"]), (False, False, [])],
)
async def test_a_check_is_sent_only_on_the_channels_the_holder_keeps(
    sms: bool, email: bool, channels: list[str]
) -> None:
    rig = Rig()
    await rig.service.choose("u1", Preferences(sms=sms, email=email))
    await rig.service.book_checked(_share_checked(), "e1", None)
    assert len(rig.store.notifications) == 1  # in-app is always on
    staged = sorted(rig.store.of(i).delivery.channel for i in rig.deliveries_of("e1"))
    assert staged == channels


async def test_reading_is_idempotent_and_only_for_the_owner() -> None:
    rig = Rig()
    await rig.status_change()
    [shown] = rig.store.notifications.values()
    with pytest.raises(Problem) as refused:
        await rig.service.mark_read("someone-else", shown.id)
    assert (refused.value.status, refused.value.detail) == (404, "Уведомление не найдено.")
    first = await rig.service.mark_read("u1", shown.id)
    rig.clock.advance(seconds=5)
    again = await rig.service.mark_read("u1", shown.id)
    assert first.read_at == again.read_at == START
    page = await rig.service.page("u1", 20, None)
    assert (len(page.items), page.next_cursor, page.unread) == (1, None, 0)


async def test_each_delivery_is_sent_with_the_contacts_of_the_moment_and_reported() -> None:
    rig = Rig()
    event_id = await rig.status_change()
    assert await rig.dispatcher.drain() == 2
    assert await rig.dispatcher.drain() == 0
    [(to, text)] = rig.sms.sent
    assert (to, text.startswith("ЭМК: заявление № 2026-000123 — «Требуется уточнение».")) == (
        PHONE,
        True,
    )
    [(to, subject, body)] = rig.email.sent
    assert (to, subject) == (EMAIL, "Заявление № 2026-000123: Требуется уточнение — ЭМК")
    assert body.startswith("Здравствуйте, Анна Игоревна!")
    for delivery_id in rig.deliveries_of(event_id):
        stored = rig.store.of(delivery_id)
        assert stored.delivery.state is State.SENT
        assert [(a.number, a.outcome, a.error) for a in stored.attempts] == [(1, "sent", None)]
        [report] = stored.events
        assert report.type == NotificationSent.event_type()


async def test_failures_wait_a_doubling_pause_then_the_delivery_fails_and_is_reported() -> None:
    rig = Rig()
    rig.sms.failures = 99
    await rig.service.choose("u1", Preferences(sms=True, email=False))
    [delivery_id] = rig.deliveries_of(await rig.status_change())
    assert await rig.dispatcher.drain() == 1
    assert rig.store.of(delivery_id).delivery.next_attempt_at == START + timedelta(seconds=30)
    rig.clock.advance(seconds=29)
    assert await rig.dispatcher.drain() == 0
    rig.clock.advance(seconds=1)
    assert await rig.dispatcher.drain() == 1
    rig.clock.advance(seconds=60)
    assert await rig.dispatcher.drain() == 1
    stored = rig.store.of(delivery_id)
    assert stored.delivery.state is State.FAILED
    assert [a.error for a in stored.attempts] == ["ConnectionError"] * 3
    [report] = stored.events
    assert report.type == NotificationFailed.event_type()
    assert (report.data["attempts"], report.data["error_code"]) == (3, "ConnectionError")


async def test_no_verified_contact_ends_at_once_and_is_reported() -> None:
    rig = Rig()
    rig.directory.contacts_of["u2"] = Contacts(phone=PHONE, email=None)
    await rig.service.choose("u2", Preferences(sms=False, email=True))
    [delivery_id] = rig.deliveries_of(await rig.status_change(user_id="u2"))
    await rig.dispatcher.drain()
    stored = rig.store.of(delivery_id)
    assert stored.delivery.state is State.NO_CONTACT
    assert [(a.outcome, a.error) for a in stored.attempts] == [("no_contact", "no_contact")]
    assert stored.events[0].data["error_code"] == "no_contact"
    rig.clock.advance(seconds=3600)
    assert await rig.dispatcher.drain() == 0


async def test_identity_away_and_an_unreadable_message_are_failed_attempts() -> None:
    rig = Rig()
    await rig.service.choose("u1", Preferences(sms=True, email=False))
    [away] = rig.deliveries_of(await rig.status_change())
    rig.directory.outages = 1
    await rig.dispatcher.drain()
    assert rig.store.of(away).attempts[0].error == "IdentityUnavailableError"
    [broken] = rig.deliveries_of(await rig.status_change())
    stored = rig.store.of(broken)
    stored.delivery = replace(stored.delivery, message=Unreadable("KeyError"))
    rig.clock.advance(seconds=30)
    assert await rig.dispatcher.drain() == 2
    assert rig.store.of(away).delivery.state is State.SENT
    assert rig.store.of(broken).attempts[0].error == "KeyError"


async def test_a_code_is_opened_only_to_send_and_its_box_dropped_once_sent() -> None:
    rig = Rig()
    [delivery_id] = rig.deliveries_of(await rig.code())
    assert rig.wakes == 1
    assert await rig.dispatcher.drain() == 1
    assert rig.sms.sent == [
        (PHONE, f"Код для входа в ЭМК: {CODE}. Никому не сообщайте его, даже сотрудникам.")
    ]
    stored = rig.store.of(delivery_id)
    assert stored.delivery.state is State.SENT
    assert stored.delivery.code is not None
    assert stored.delivery.code.sealed is None
    assert rig.directory.asked == 0


async def test_an_expired_code_is_never_sent_nor_reported() -> None:
    rig = Rig()
    [on_arrival] = rig.deliveries_of(await rig.code(expires_in=timedelta(seconds=-1)))
    assert rig.store.of(on_arrival).delivery.state is State.EXPIRED
    assert rig.wakes == 0
    [waiting] = rig.deliveries_of(await rig.code())
    rig.sms.failures = 1
    await rig.dispatcher.drain()
    rig.clock.advance(seconds=301)
    assert await rig.dispatcher.drain() == 1
    stored = rig.store.of(waiting)
    assert stored.delivery.state is State.EXPIRED
    assert [a.outcome for a in stored.attempts] == ["error", "expired"]
    assert stored.events == []
    assert rig.sms.sent == []


async def test_a_box_that_does_not_open_is_a_failed_attempt() -> None:
    rig = Rig()
    [delivery_id] = rig.deliveries_of(await rig.code())
    stored = rig.store.of(delivery_id)
    # Another event's id: the box's associated data no longer matches.
    stored.delivery = replace(stored.delivery, trigger_event_id=str(uuid.uuid4()))
    for pause in (0, 2, 4):
        rig.clock.advance(seconds=pause)
        await rig.dispatcher.drain()
    stored = rig.store.of(delivery_id)
    assert [a.error for a in stored.attempts] == ["DecryptionError"] * 3
    assert stored.delivery.state is State.FAILED
    assert rig.sms.sent == []


async def test_staff_see_where_each_attempt_went_masked_and_never_a_code() -> None:
    rig = Rig()
    await rig.status_change()
    await rig.code()
    assert await rig.dispatcher.drain() == 3
    operator = Principal("op1", "operator", None, "s1", "t1")
    seen = await rig.service.deliveries_of(operator, "u1", "обращение 7", 50)
    shown = {(d.kind, d.channel): d.attempts[-1].to for d in seen}
    assert shown == {
        ("application_status", "sms"): "+7 *** ***-**-22",
        ("application_status", "email"): "a***@example.ru",
        ("one_time_code", "sms"): "+7 *** ***-**-22",
    }
    assert all(d.code is None for d in seen)  # no sealed box leaves the store
    assert PHONE not in repr(seen)
    assert EMAIL not in repr(seen)
    assert CODE not in repr(seen)
    [entry] = rig.store.access_log.entries
    assert (entry["person_id"], entry["actor_id"], entry["reason"]) == ("u1", "op1", "обращение 7")


def test_masking_keeps_only_what_tells_which_contact() -> None:
    assert mask("+79991234567") == "+7 *** ***-**-67"
    assert mask("maria.ivanova@mail.example.ru") == "m***@mail.example.ru"


async def test_the_owner_of_logins_someone_registered_with_is_told_which() -> None:
    rig = Rig()
    attempt = RegistrationAttempted(user_id="u1", logins=["phone", "snils"])
    await rig.service.registration_attempted(attempt, "e-attempt", None)
    [shown] = rig.store.notifications.values()
    assert (shown.kind, shown.title) == (
        "registration_attempted", "Попытка регистрации с вашими данными",
    )  # fmt: skip
    assert "с вашим номером телефона и СНИЛС." in shown.text
    assert await rig.dispatcher.drain() == 2
    [(to, text)] = rig.sms.sent
    assert to == PHONE
    assert text == (
        "ЭМК: кто-то пытался зарегистрироваться с вашим номером телефона и СНИЛС. Если это были "
        "не вы, ничего делать не нужно."
    )
    [(_, subject, _)] = rig.email.sent
    assert subject == "Попытка регистрации с вашими данными — ЭМК"


async def test_a_locked_sign_in_is_told_with_its_end_in_moscow_time() -> None:
    rig = Rig()
    locked = AccountLocked(
        user_id="u1", until=datetime(2026, 3, 2, 9, 15, tzinfo=UTC), reason="password_failures"
    )
    await rig.service.account_locked(locked, "e-lock", None)
    [shown] = rig.store.notifications.values()
    assert (shown.kind, shown.title, shown.subject) == (
        "account_locked", "Вход временно заблокирован", None,
    )  # fmt: skip
    assert "до 02.03.2026 в 12:15 (МСК)" in shown.text
    assert await rig.dispatcher.drain() == 2
    [(to, text)] = rig.sms.sent
    assert to == PHONE
    assert text.startswith("ЭМК: вход заблокирован до 02.03.2026 12:15 МСК")
    [(_, subject, _)] = rig.email.sent
    assert subject == "Вход временно заблокирован — ЭМК"
