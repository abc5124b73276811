"""Fakes of notifications' own ports for its tests: a clock the test moves, and SMS and
e-mail senders that fail a set number of times before they deliver."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


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
