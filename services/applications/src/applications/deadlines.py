"""The deadline scheduler: rejects applications whose clarification went unanswered and
raises ``DeadlineBreached`` for overdue ones — once each, with several replicas and
across restarts.

Every application carries ``next_timer_at``, the next instant anything may be due
(indexed, so a tick reads only due applications). A replica claims one with a lease
(``timer_claim``: owner and until), decides with the pure domain, and writes the effect,
its events and the cleared claim in one write conditional on the version it read. A
second replica cannot claim a held application, and should a lease lapse mid-work, the
conditional write still lets only one effect through; a fired timer leaves nothing due,
so firing again does nothing. Time comes from a clock port the tests drive.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from applications.domain import application as domain
from applications.store import ApplicationStore
from emk_common.clock import Clock
from emk_common.loops import PollingLoop

log = logging.getLogger(__name__)


class Deadlines:
    def __init__(
        self,
        store: ApplicationStore,
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
        self.loop = PollingLoop("deadline scheduler", self._round, poll_seconds)

    async def _round(self) -> None:
        await self.tick()
        now = time.monotonic()
        if self._last_recount is None or now - self._last_recount >= self.recount_seconds:
            await self.store.recount()
            self._last_recount = now

    async def tick(self) -> int:
        """Fires every due timer; returns how many applications changed."""
        fired = 0
        while True:
            now = self.clock()
            application = await self.store.claim_due(now, self.claim, self.owner)
            if application is None:
                return fired
            step = domain.fire_timers(application, now)
            written = await self.store.apply(application, step, domain.SYSTEM, now)
            if written is None:
                continue  # changed meanwhile: its timer is recomputed by that change
            due_again = written.get("next_timer_at")
            if not step.events and due_again is not None and due_again <= now:
                log.error("timer of %s due again after firing", application["_id"])
                return fired  # never spin; the next round looks again
            if step.events:
                fired += 1
                log.info(
                    "deadline fired",
                    extra={"application_id": application["_id"], "status": written["status"]},
                )
