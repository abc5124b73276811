"""What happens after one delivery attempt: done, tried again later, or given up.

A failed attempt is retried after a pause that doubles each time (up to a ceiling),
until the attempts run out; then the delivery is failed and reported. A person with no
verified contact on that channel cannot be reached by retrying, so that ends at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# The error recorded when the person has no verified phone/e-mail for the channel.
NO_CONTACT = "no_contact"


class State(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    NO_CONTACT = "no_contact"


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
        """Where a delivery stands after attempt ``attempt`` ended with ``error`` (None: sent)."""
        if error is None:
            return Verdict(State.SENT)
        if error == NO_CONTACT:
            return Verdict(State.NO_CONTACT)
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
        return self.state in (State.FAILED, State.NO_CONTACT)
