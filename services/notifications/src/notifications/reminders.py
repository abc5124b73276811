"""The reminder loop: one of the service's background loops, firing the reminders that fall
due (``Notifications.fire``: the notification, its deliveries and the reminder marked sent,
in one transaction on a lease). Woken when a plan is committed, else it polls."""

from __future__ import annotations

from collections.abc import Callable

from emk_common.loops import PollingLoop
from emk_common.metrics import SchedulerLag
from notifications.service import Notifications


class ReminderLoop:
    def __init__(
        self,
        notifications: Notifications,
        *,
        poll_seconds: float,
        fired: Callable[[], None] = lambda: None,
    ) -> None:
        self.notifications = notifications
        self.lag = SchedulerLag("reminders")  # how late the reminders a round fires are
        self.loop = PollingLoop(
            "reminders", self.drain, poll_seconds, max_backoff_seconds=30.0, lag=self.lag
        )
        self._fired = fired  # wakes the dispatcher: deliveries were staged

    def wake(self) -> None:
        self.loop.wake()

    async def run(self) -> None:
        await self.loop.run()

    async def drain(self) -> int:
        """Fire every reminder due now; returns how many fired here."""
        fired = 0
        while (reminder := await self.notifications.claim_reminder()) is not None:
            self.lag.late(reminder.send_at, self.notifications.clock())
            if await self.notifications.fire(reminder):
                fired += 1
        if fired:
            self._fired()
        return fired
