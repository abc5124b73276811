"""The one shape of a service's background loop (schedulers): a round runs at start, again
whenever it is woken, and at least every ``poll_seconds``; a round that fails is logged with
the error's type (never its text, which may quote data) and the next round tries again. A
replica that stops mid-round loses nothing: rounds work on durable state (claims with leases).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class PollingLoop:
    def __init__(self, name: str, round_: Callable[[], Awaitable[object]], poll_seconds: float):
        self.name = name
        self._round = round_
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Run a round now (a change that may have made work due)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # MongoDB away, say: the next round tries again
                log.warning("%s: round failed: %s", self.name, type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
