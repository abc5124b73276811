"""Helpers for the project's tests: waiting on a condition with a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    within: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; after ``within`` seconds, fail."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        try:
            # The deadline holds even when one probe hangs (a stuck network call).
            async with asyncio.timeout(max(0.0, deadline - time.monotonic()) + interval):
                last = await probe()
        except TimeoutError:
            raise AssertionError(
                f"{what}: a probe was still running after {within:.0f} s"
            ) from None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {within:.0f} s waiting for {what}; last: {last!r}"
            )
        await asyncio.sleep(interval)
