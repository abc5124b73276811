"""What happens after one delivery attempt: done, tried again later, or given up.

A failed attempt is retried after a pause that doubles each time (up to a ceiling),
until the attempts run out; then the delivery is failed and reported. A person with no
verified contact on that channel cannot be reached by retrying, so that ends at once.
A one-time code whose time ran out before it could be sent ends at once too, unsent and
not reported: nobody could use it any more, and nothing went wrong with the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# The error recorded when the person has no verified phone/e-mail for the channel.
NO_CONTACT = "no_contact"
# The outcome recorded when a one-time code expired before it was sent (nothing was tried).
EXPIRED = "expired"


class State(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    NO_CONTACT = "no_contact"
    EXPIRED = "expired"
    # Past the person's hourly SMS limit: not sent, counted in the summary SMS instead.
    FOLDED = "folded"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    first_delay: timedelta
    max_delay: timedelta

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("a delivery needs at least one attempt")
        if self.first_delay <= timedelta(0) or self.max_delay < self.first_delay:
            raise ValueError("retry delays must be positive, the ceiling not below the first")

    def delay_after(self, attempt: int) -> timedelta:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        # The exponent is capped so that a large attempt number cannot overflow.
        seconds = self.first_delay.total_seconds() * 2.0 ** min(max(attempt - 1, 0), 60)
        return min(timedelta(seconds=min(seconds, self.max_delay.total_seconds())), self.max_delay)

    def judge(self, attempt: int, error: str | None, now: datetime) -> Verdict:
        """Where a delivery stands after attempt ``attempt`` ended with ``error`` (None: sent;
        ``NO_CONTACT`` and ``EXPIRED`` end it whatever the attempts left)."""
        if error is None:
            return Verdict(State.SENT)
        if error == NO_CONTACT:
            return Verdict(State.NO_CONTACT)
        if error == EXPIRED:
            return Verdict(State.EXPIRED)
        if attempt >= self.max_attempts:
            return Verdict(State.FAILED)
        return Verdict(State.PENDING, next_attempt_at=now + self.delay_after(attempt))


@dataclass(frozen=True)
class Verdict:
    state: State
    next_attempt_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.state is not State.PENDING

    @property
    def reported_as_failed(self) -> bool:
        """A final failure to reach the person (``NotificationFailed``); an expired code is
        not one: it ends quietly."""
        return self.state in (State.FAILED, State.NO_CONTACT)
