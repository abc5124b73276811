"""Fakes of notifications' own ports (``notifications.ports``) and of its store (the
``ports.Store`` protocol): SMS and e-mail senders that fail a set number of times before
they deliver, a contact directory, and deliveries and notifications kept in memory."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from emk_common.catalog import SealedBox
from emk_common.crypto import seal
from emk_common.events import Envelope
from notifications.domain.delivery import Attempt, Delivery, OneTimeCode, Settlement
from notifications.domain.notification import Notification, Preferences
from notifications.domain.retry import State
from notifications.ports import Contacts, IdentityUnavailableError

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Flaky:
    """Fails its first ``failures`` sends."""

    failures: int = 0
    sent: list[tuple[str, ...]] = field(default_factory=list)

    def _take(self, *message: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("gateway unavailable")
        self.sent.append(message)


class FlakySms(Flaky):
    async def send(self, to: str, text: str) -> None:
        self._take(to, text)


class FlakyMail(Flaky):
    async def send(self, to: str, subject: str, text: str) -> None:
        self._take(to, subject, text)


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
class MemoryStore:
    """The service's store in memory: claims with leases, settling on the claim token."""

    notifications: dict[str, Notification] = field(default_factory=dict)
    notification_events: list[Envelope] = field(default_factory=list)
    chosen: dict[str, Preferences] = field(default_factory=dict)
    deliveries: dict[str, Stored] = field(default_factory=dict)

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
        self.chosen[user_id] = chosen

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
