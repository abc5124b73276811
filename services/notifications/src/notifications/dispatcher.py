"""The delivery dispatcher: one of the service's background loops, sending what the inbox
handlers staged.

It is woken in process once a handler's transaction has committed
(``emk_common.inbox.after_commit``) and polls for the rest: deliveries written by other
replicas, retries that fall due, leases of replicas that died mid-send. Each delivery is
one use case of the service (``Notifications.deliver``); this loop only keeps up to
``concurrency`` of them going side by side.
"""

from __future__ import annotations

import asyncio

from emk_common.loops import PollingLoop
from emk_common.metrics import SchedulerLag
from notifications.domain.retry import Verdict
from notifications.service import Notifications

_MAX_BACKOFF = 10.0


class Dispatcher:
    def __init__(
        self, notifications: Notifications, *, poll_seconds: float, concurrency: int
    ) -> None:
        self.notifications = notifications
        self.concurrency = max(1, concurrency)
        # How late the deliveries a round sends are (emk_scheduler_lag_seconds).
        self.lag = SchedulerLag("dispatcher")
        self.loop = PollingLoop(
            "delivery dispatcher",
            self.drain,
            poll_seconds,
            max_backoff_seconds=_MAX_BACKOFF,
            lag=self.lag,
        )

    def wake(self) -> None:
        """New deliveries are committed: look now."""
        self.loop.wake()

    @property
    def rounds(self) -> int:
        """Completed looks at the collection (for health and tests)."""
        return self.loop.rounds

    async def run(self) -> None:
        # The loop outlives a bad round: a stopped dispatcher sends nothing at all.
        await self.loop.run()

    async def drain(self) -> int:
        """Send every delivery due now, up to ``concurrency`` at once; returns how many were
        tried. A slot is refilled as soon as its send ends, so a quick SMS never waits for
        a slow e-mail claimed with it."""
        tried = 0
        running: set[asyncio.Task[Verdict]] = set()
        failure: BaseException | None = None
        while True:
            while failure is None and len(running) < self.concurrency:
                delivery = await self.notifications.claim_due()
                if delivery is None:
                    break
                self.lag.late(delivery.next_attempt_at, self.notifications.clock())
                running.add(asyncio.create_task(self.notifications.deliver(delivery)))
                tried += 1
            if not running:
                if failure is not None:
                    raise failure
                return tried
            # Every claimed delivery is settled (or left to its lease) before a failure ends it.
            try:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:  # the service stops: unfinished ones keep their lease
                for task in running:
                    task.cancel()
                raise
            for task in done:
                if failure is None and task.exception() is not None:
                    failure = task.exception()
