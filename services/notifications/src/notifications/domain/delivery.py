"""A delivery: one message to one person over one channel (SMS or e-mail), with its attempts.

Two kinds. A status change or a book access carries the facts its texts are made of
(rendered at send time, with the contacts identity gives then). A one-time code carries a
box sealed for this service (destination and code), opened in memory only to send and
dropped once the delivery ends; a code that expired while waiting is not sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from emk_common.catalog import Channel, NotificationFailed, NotificationSent, SealedBox
from emk_common.events import EventData
from notifications.domain.notification import Subject
from notifications.domain.retry import EXPIRED, NO_CONTACT, RetryPolicy, State, Verdict
from notifications.domain.texts import Message

ONE_TIME_CODE = "one_time_code"
CHANNELS: tuple[Channel, ...] = ("sms", "email")


@dataclass(frozen=True)
class Unreadable:
    """A stored message this version cannot read: sending it fails like any attempt, with
    the class of the error that reading it raised."""

    error: str


@dataclass(frozen=True)
class OneTimeCode:
    purpose: str
    expires_at: datetime
    # The destination and the code, for this service's key; None once the delivery ended.
    sealed: SealedBox | None


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime
    outcome: str  # "sent", "error", "no_contact" or "expired"
    error: str | None  # an exception's class name: never its text, which may quote data
    to: str | None = None  # the destination, masked (``mask``): what staff may see of it


def mask(destination: str) -> str:
    """What staff may see of a phone or an address: «+7 *** ***-**-67», «a***@example.ru»."""
    if "@" in destination:
        local, _, domain = destination.rpartition("@")
        return f"{local[:1]}***@{domain}"
    digits = [ch for ch in destination if ch.isdigit()]
    return f"+{''.join(digits[:1])} *** ***-**-{''.join(digits[-2:])}"


@dataclass(frozen=True)
class Settlement:
    """What one attempt leaves: the attempt, where the delivery stands, what is reported."""

    attempt: Attempt
    verdict: Verdict
    report: EventData | None


@dataclass(frozen=True)
class Delivery:
    id: str
    kind: str
    channel: Channel
    user_id: str
    # The in-app notification it goes with (a one-time code: its own id).
    notification_id: str
    trigger_event_id: str
    created_at: datetime
    next_attempt_at: datetime | None
    state: State = State.PENDING
    attempt_count: int = 0
    subject: Subject | None = None
    message: Message | Unreadable | None = None
    code: OneTimeCode | None = None
    finished_at: datetime | None = None
    # The token of the claim this copy was read under (settling is conditional on it).
    claim: str | None = None
    # What was tried so far, oldest first (read for the operators' view; not for sending).
    attempts: tuple[Attempt, ...] = ()

    @classmethod
    def of_message(
        cls,
        *,
        delivery_id: str,
        channel: Channel,
        user_id: str,
        notification_id: str,
        trigger_event_id: str,
        kind: str,
        message: Message,
        subject: Subject | None,
        now: datetime,
        not_before: datetime | None = None,
    ) -> Delivery:
        """``not_before``: held until then (an SMS staged in the quiet hours)."""
        return cls(
            id=delivery_id,
            kind=kind,
            channel=channel,
            user_id=user_id,
            notification_id=notification_id,
            trigger_event_id=trigger_event_id,
            created_at=now,
            next_attempt_at=max(now, not_before) if not_before else now,
            subject=subject,
            message=message,
        )

    @classmethod
    def of_code(
        cls,
        *,
        delivery_id: str,
        channel: Channel,
        user_id: str,
        trigger_event_id: str,
        purpose: str,
        expires_at: datetime,
        sealed: SealedBox,
        now: datetime,
    ) -> Delivery:
        """A code to send; one that expired on arrival is recorded ``expired``, without its
        box, and never sent."""
        # A code's NotificationSent/Failed names its delivery.
        pending = cls(
            id=delivery_id,
            kind=ONE_TIME_CODE,
            channel=channel,
            user_id=user_id,
            notification_id=delivery_id,
            trigger_event_id=trigger_event_id,
            created_at=now,
            next_attempt_at=now,
            code=OneTimeCode(purpose, expires_at, sealed),
        )
        if expires_at > now:
            return pending
        return replace(
            pending,
            state=State.EXPIRED,
            next_attempt_at=None,
            finished_at=now,
            code=OneTimeCode(purpose, expires_at, None),
        )

    @property
    def failure(self) -> str | None:
        """Why the last attempt did not deliver (an error's class name, ``no_contact``,
        ``expired``); None if it was sent or nothing was tried."""
        if not self.attempts or self.attempts[-1].outcome == "sent":
            return None
        last = self.attempts[-1]
        return last.error or last.outcome

    @property
    def is_code(self) -> bool:
        return self.kind == ONE_TIME_CODE

    def expired(self, now: datetime) -> bool:
        """A one-time code nobody could use any more: not sent, not retried."""
        return self.code is not None and self.code.expires_at <= now

    def settle(
        self, error: str | None, now: datetime, policy: RetryPolicy, *, to: str | None = None
    ) -> Settlement:
        """The attempt that just ended with ``error`` (None: sent) to ``to`` (masked),
        judged by ``policy``."""
        number = self.attempt_count + 1
        verdict = policy.judge(number, error, now)
        outcome = "sent" if error is None else error if error in (NO_CONTACT, EXPIRED) else "error"
        attempt = Attempt(number=number, at=now, outcome=outcome, error=error, to=to)
        return Settlement(attempt, verdict, self._report(verdict, number, error))

    def _report(self, verdict: Verdict, attempts: int, error: str | None) -> EventData | None:
        if verdict.state is State.SENT:
            return NotificationSent(
                notification_id=self.notification_id,
                user_id=self.user_id,
                channel=self.channel,
                trigger_event_id=self.trigger_event_id,
            )
        if verdict.reported_as_failed:
            return NotificationFailed(
                notification_id=self.notification_id,
                user_id=self.user_id,
                channel=self.channel,
                trigger_event_id=self.trigger_event_id,
                attempts=attempts,
                error_code=error or "unknown",
            )
        return None
