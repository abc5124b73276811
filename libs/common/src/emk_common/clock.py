"""The wall clock as a port (a callable returning an aware UTC datetime), so tests move
time instead of waiting for it. Every service takes its clock this way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
