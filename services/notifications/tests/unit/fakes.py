"""Fakes of notifications' own ports (``notifications.ports``) and of its store (the
``ports.Store`` protocol): SMS and e-mail senders that fail a set number of times before
they deliver, a contact directory, and deliveries and notifications kept in memory."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from emk_common.catalog import DueItem, SealedBox
from emk_common.crypto import seal
from emk_common.events import Envelope
from emk_testing import MemoryAccessLog
from notifications.domain.delivery import Attempt, Delivery, OneTimeCode, Settlement
from notifications.domain.notification import Notification, Preferences
from notifications.domain.reminders import Reminder, ReminderState
from notifications.domain.retry import State
from notifications.domain.texts import SmsSummary
from notifications.ports import Contacts, FiredElsewhereError, IdentityUnavailableError

T = TypeVar("T")

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Flaky:
    """Fails its first ``failures`` sends."""

    failures: int = 0
    sent: list[tuple[str, ...]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # each sent message's idempotency key

    def _take(self, *message: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("gateway unavailable")
        self.sent.append(message)


class FlakySms(Flaky):
    async def send(self, to: str, text: str, *, key: str) -> None:
        self._take(to, text)
        self.keys.append(key)


@dataclass
class FlakyMail(Flaky):
    htmls: list[str | None] = field(default_factory=list)  # each sent letter's HTML part

    async def send(
        self, to: str, subject: str, text: str, *, key: str, html: str | None = None
    ) -> None:
        self._take(to, subject, text)
        self.keys.append(key)
        self.htmls.append(html)


@dataclass
class Directory:
    """Identity's contacts as it would answer; ``outages`` calls fail first."""

    contacts_of: dict[str, Contacts] = field(default_factory=dict)
    outages: int = 0
    asked: int = 0

    async def contacts(self, user_id: str) -> Contacts:
        self.asked += 1
        if self.outages > 0:
            self.outages -= 1
            raise IdentityUnavailableError("ConnectError")
        return self.contacts_of.get(user_id, Contacts(None, None))


class NoDirectory:
    """One-time codes never ask identity: the destination is in the sealed box."""

    async def contacts(self, user_id: str) -> Contacts:
        raise AssertionError("a one-time code asked the contact directory")


def sealed_code(
    public_key: bytes, event_id: str, destination: str, code: str, expires_at: datetime
) -> SealedBox:
    """A box as identity seals it for this service."""
    plain = {"destination": destination, "code": code, "expires_at": expires_at.isoformat()}
    return seal(
        json.dumps(plain).encode(),
        recipient_public_key=public_key,
        kid="otp-1",
        associated_data=event_id.encode(),
    )


@dataclass
class Stored:
    delivery: Delivery
    attempts: list[Attempt] = field(default_factory=list)
    events: list[Envelope] = field(default_factory=list)
    held_until: datetime | None = None


@dataclass
class MemoryReminders:
    """Reminders and due lists in memory, claimed with leases as the store claims them."""

    by_id: dict[str, Reminder] = field(default_factory=dict)
    held_until: dict[str, datetime] = field(default_factory=dict)
    due: dict[str, tuple[str, list[DueItem]]] = field(default_factory=dict)
    validity: dict[str, str] = field(default_factory=dict)

    async def keep_due(
        self, book_id: str, user_id: str, due: Sequence[DueItem], session: object
    ) -> None:
        self.due[book_id] = (user_id, list(due))

    async def due_of(self, user_id: str, session: object = None) -> list[tuple[str, list[DueItem]]]:
        return [(book, items) for book, (user, items) in self.due.items() if user == user_id]

    async def swap_validity(
        self, book_id: str, user_id: str, validity: str, session: object
    ) -> str | None:
        before = self.validity.get(book_id)
        self.validity[book_id] = validity
        return before

    async def replan(self, book_id: str, planned: Iterable[Reminder], session: object) -> None:
        wanted = {r.id: r for r in planned}
        for rid, known in list(self.by_id.items()):
            if known.book_id != book_id:
                continue
            if known.state is ReminderState.PENDING and rid not in wanted:
                self.by_id[rid] = replace(known, state=ReminderState.CANCELLED)
            if known.state is ReminderState.CANCELLED and rid in wanted:
                self.by_id[rid] = replace(known, state=ReminderState.PENDING)
        for rid, reminder in wanted.items():
            self.by_id.setdefault(rid, reminder)

    async def claim_reminder(self, now: datetime, lease: timedelta, owner: str) -> Reminder | None:
        for rid, reminder in self.by_id.items():
            held = self.held_until.get(rid)
            if (
                reminder.state is ReminderState.PENDING
                and reminder.send_at <= now
                and (held is None or held <= now)
            ):
                self.held_until[rid] = now + lease
                claimed = self.by_id[rid] = replace(reminder, claim=uuid.uuid4().hex)
                return claimed
        return None

    async def mark_fired(
        self, reminder: Reminder, now: datetime, session: object, *, sent: bool
    ) -> None:
        stored = self.by_id[reminder.id]
        if stored.claim != reminder.claim or stored.state is not ReminderState.PENDING:
            raise FiredElsewhereError(reminder.id)
        state = ReminderState.SENT if sent else ReminderState.CANCELLED
        self.by_id[reminder.id] = replace(stored, state=state)
        for rid, other in self.by_id.items():
            same = (other.book_id, other.item_id, other.due_date) == (
                reminder.book_id, reminder.item_id, reminder.due_date,
            )  # fmt: skip
            if same and other.state is ReminderState.PENDING and other.send_at <= now:
                self.by_id[rid] = replace(other, state=ReminderState.CANCELLED)

    def of_book(self, book_id: str) -> list[Reminder]:
        return [r for r in self.by_id.values() if r.book_id == book_id]


@dataclass
class MemoryStore:
    """The service's store in memory: claims with leases, settling on the claim token. A
    transaction is all or nothing: what ``in_transaction``'s work wrote is undone if it
    raises (a snapshot of the collections taken before)."""

    notifications: dict[str, Notification] = field(default_factory=dict)
    notification_events: list[Envelope] = field(default_factory=list)
    chosen: dict[str, Preferences] = field(default_factory=dict)
    deliveries: dict[str, Stored] = field(default_factory=dict)
    reminders: MemoryReminders = field(default_factory=MemoryReminders)
    access_log: MemoryAccessLog = field(default_factory=lambda: MemoryAccessLog("person"))
    zones_learnt: int = 0  # writes of a person's time zone

    async def deliveries_of(self, user_id: str, limit: int) -> list[Delivery]:
        mine = [
            replace(s.delivery, attempts=tuple(s.attempts), code=None)
            for s in self.deliveries.values()
            if s.delivery.user_id == user_id
        ]
        return sorted(mine, key=lambda d: d.created_at, reverse=True)[:limit]

    async def in_transaction(self, work: Callable[[Any], Awaitable[T]]) -> T:
        before = (
            dict(self.notifications), list(self.notification_events), dict(self.deliveries),
            dict(self.reminders.by_id),
        )  # fmt: skip
        try:
            return await work(None)
        except BaseException:
            self.notifications, self.notification_events, self.deliveries = before[:3]
            self.reminders.by_id = before[3]
            raise

    async def sms_sent_since(self, user_id: str, since: datetime) -> list[datetime]:
        return sorted(
            s.delivery.finished_at
            for s in self.deliveries.values()
            if s.delivery.user_id == user_id and s.delivery.channel == "sms"
            and s.delivery.kind != "one_time_code" and s.delivery.state is State.SENT
            and s.delivery.finished_at is not None and s.delivery.finished_at >= since
        )  # fmt: skip

    async def fold(self, delivery: Delivery, summary: Delivery, now: datetime) -> bool:
        stored = self.deliveries[delivery.id]
        if stored.delivery.claim != delivery.claim:
            return False
        stored.delivery = replace(stored.delivery, state=State.FOLDED, finished_at=now, claim=None)
        stored.held_until = None
        known = self.deliveries.get(summary.id)
        count = 0 if known is None else getattr(known.delivery.message, "count", 0)
        base = summary if known is None else known.delivery
        self.deliveries[summary.id] = Stored(
            replace(base, message=SmsSummary(count + 1)),
            known.attempts if known else [],
        )
        return True

    async def hold(self, delivery: Delivery, until: datetime) -> bool:
        stored = self.deliveries[delivery.id]
        if stored.delivery.claim != delivery.claim:
            return False
        stored.delivery = replace(stored.delivery, next_attempt_at=until, claim=None)
        stored.held_until = None
        return True

    async def add_notification(
        self, notification: Notification, events: Sequence[Envelope], session: object
    ) -> None:
        self.notifications[notification.id] = notification
        self.notification_events.extend(events)

    async def page(
        self, user_id: str, limit: int, before: str | None
    ) -> tuple[list[Notification], bool]:
        own = sorted(
            (n for n in self.notifications.values() if n.user_id == user_id),
            key=lambda n: n.id,
            reverse=True,
        )
        older = [n for n in own if before is None or n.id < before]
        return older[:limit], len(older) > limit

    async def unread(self, user_id: str) -> int:
        return sum(
            1 for n in self.notifications.values() if n.user_id == user_id and n.read_at is None
        )

    async def mark_read(
        self, user_id: str, notification_id: str, now: datetime
    ) -> Notification | None:
        found = self.notifications.get(notification_id)
        if found is None or found.user_id != user_id:
            return None
        if found.read_at is None:
            found = self.notifications[notification_id] = replace(found, read_at=now)
        return found

    async def preferences(self, user_id: str, session: object = None) -> Preferences:
        return self.chosen.get(user_id, Preferences())

    async def put_preferences(self, user_id: str, chosen: Preferences, now: datetime) -> None:
        learnt = self.chosen.get(user_id, Preferences()).time_zone
        self.chosen[user_id] = replace(chosen, time_zone=learnt)

    async def learn_time_zone(self, user_id: str, zone: str | None) -> None:
        self.zones_learnt += 1
        self.chosen[user_id] = replace(self.chosen.get(user_id, Preferences()), time_zone=zone)

    async def stage(self, deliveries: Sequence[Delivery], session: object) -> None:
        for delivery in deliveries:
            self.deliveries[delivery.id] = Stored(delivery)

    async def claim(self, now: datetime, lease: timedelta, owner: str) -> Delivery | None:
        due = [
            stored
            for stored in self.deliveries.values()
            if stored.delivery.state is State.PENDING
            and stored.delivery.next_attempt_at is not None
            and stored.delivery.next_attempt_at <= now
            and (stored.held_until is None or stored.held_until <= now)
        ]
        if not due:
            return None
        first = min(due, key=lambda s: (not s.delivery.is_code, s.delivery.next_attempt_at or now))
        first.held_until = now + lease
        first.delivery = replace(first.delivery, claim=uuid.uuid4().hex)
        return first.delivery

    async def settle(
        self, delivery: Delivery, settlement: Settlement, events: Sequence[Envelope]
    ) -> bool:
        stored = self.deliveries[delivery.id]
        if stored.delivery.claim != delivery.claim:
            return False
        verdict, attempt = settlement.verdict, settlement.attempt
        code, due = stored.delivery.code, stored.delivery.next_attempt_at
        if verdict.final and code is not None:
            code = OneTimeCode(code.purpose, code.expires_at, None)
        stored.delivery = replace(
            stored.delivery,
            state=verdict.state,
            attempt_count=attempt.number,
            next_attempt_at=due if verdict.final else verdict.next_attempt_at,
            finished_at=attempt.at if verdict.final else None,
            code=code,
            claim=None,
        )
        stored.held_until = None
        stored.attempts.append(attempt)
        stored.events.extend(events)
        return True

    def of(self, delivery_id: str) -> Stored:
        return self.deliveries[delivery_id]
