"""The deadline scheduler: rejects applications whose clarification went unanswered and
raises ``DeadlineBreached`` for overdue ones — once each, with several replicas and
across restarts.

Every application carries ``next_timer_at``, the next instant anything may be due
(indexed, so a tick reads only due applications). A replica claims one with a lease
(owner and until), decides with the pure domain, and writes the effect, its events and the
cleared claim in one write conditional on the version it read. A second replica cannot
claim a held application, and should a lease lapse mid-work, the conditional write still
lets only one effect through; a fired timer leaves nothing due, so firing again does
nothing. Time comes from the clock the tests drive; it also recounts the queue counters
now and then (a repair of any drift, see ``store.recount``).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from applications.ports import Store
from emk_common.catalog import DeadlineBreached
from emk_common.clock import Clock
from emk_common.loops import PollingLoop
from emk_common.metrics import DEADLINE_BREACHES, SchedulerLag

log = logging.getLogger(__name__)


class DeadlineScheduler:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        owner: str,
        poll_seconds: float,
        claim_seconds: float,
        recount_seconds: float,
    ) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.claim = timedelta(seconds=claim_seconds)
        self.recount_seconds = recount_seconds
        self._last_recount: float | None = None
        # How late the timers a round fires are (emk_scheduler_lag_seconds).
        self.lag = SchedulerLag("deadlines")
        self.loop = PollingLoop("deadline scheduler", self._round, poll_seconds, lag=self.lag)

    async def _round(self) -> None:
        await self.tick()
        # An interval between repairs, not a "now" of the domain: the monotonic clock.
        elapsed = time.monotonic()
        if self._last_recount is None or elapsed - self._last_recount >= self.recount_seconds:
            await self.store.recount()
            self._last_recount = elapsed

    async def tick(self) -> int:
        """Fires every due timer; returns how many applications changed."""
        fired = 0
        while True:
            now = self.clock()
            application = await self.store.claim_due(now, self.claim, self.owner)
            if application is None:
                return fired
            self.lag.late(application.next_timer(), now)
            change = application.fire_timers(now)
            written = await self.store.apply(application, change)
            if written is None:
                continue  # changed meanwhile: its timer is recomputed by that change
            for event in change.events:
                if isinstance(event, DeadlineBreached):
                    DEADLINE_BREACHES.add(1, {"deadline": event.deadline})
            due_again = written.next_timer()
            if not change.events and due_again is not None and due_again <= now:
                log.error("timer of %s due again after firing", application.id)
                return fired  # never spin; the next round looks again
            if change.events:
                fired += 1
                log.info(
                    "deadline fired",
                    extra={"application_id": application.id, "status": str(written.status)},
                )
