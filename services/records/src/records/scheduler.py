"""The validity scheduler: as days pass, a book becomes «истекающая» 30 days before a due
date and «не действует» the day after it; the topic hears of each change once, with
several replicas and across restarts.

Every book carries ``next_check_at``, the first instant its status may change with the
calendar alone (indexed, so a tick reads only due books). A replica claims one with a
lease (``check_claim``), decides with the pure domain (``recheck``), and writes the new
published status, its events and the next check in one write conditional on the version
it read — the same claim-with-lease mechanism as the applications' deadlines. Time comes
from a clock port the tests drive.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from emk_common.clock import Clock
from emk_common.loops import PollingLoop
from emk_common.metrics import SchedulerLag
from records.domain import book as domain
from records.domain.dates import moscow_date
from records.store import BookStore

log = logging.getLogger(__name__)


class ValidityScheduler:
    def __init__(
        self,
        store: BookStore,
        clock: Clock,
        *,
        owner: str,
        poll_seconds: float,
        claim_seconds: float,
    ) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.claim = timedelta(seconds=claim_seconds)
        # How late the checks a round makes are (emk_scheduler_lag_seconds{scheduler=validity}).
        self.lag = SchedulerLag("validity")
        self.loop = PollingLoop("validity scheduler", self.tick, poll_seconds, lag=self.lag)

    async def tick(self) -> int:
        """Looks again at every book whose check is due; returns how many changed status."""
        changed = 0
        while True:
            now = self.clock()
            claimed = await self.store.claim_due(now, self.claim, self.owner)
            if claimed is None:
                return changed
            book, due = claimed
            self.lag.late(due, now)
            today = moscow_date(now)
            change = domain.recheck(book, today)
            if not await self.store.apply(book, change, today):
                continue  # changed meanwhile: that change set its next check
            if change.events:
                changed += 1
            next_day = book.next_check(today)
            if next_day is not None and next_day <= today:
                log.error("book %s is due for a check again at once", book.id)
                return changed  # never spin; the next round looks again
