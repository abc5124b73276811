"""Sends pending status-change deliveries: claims, asks identity, sends, records, retries.

Runs as one of the service's background loops. The inbox handler only writes pending
deliveries (no network inside a transaction); this loop picks them up. It is woken in
process when the handler stages new ones and polls for the rest: deliveries written by
other replicas, retries that fall due, leases of replicas that died mid-send.

The wake comes from inside the handler, a moment before its transaction commits, so for
a short while after a wake the loop polls quickly instead of trusting one look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pymongo.errors import PyMongoError

from emk_common.catalog import NotificationFailed, NotificationSent
from emk_common.events import Envelope, EventData
from notifications.adapters.channels import EmailSender, SmsSender
from notifications.adapters.directory import ContactDirectory
from notifications.clock import Clock, utc_now
from notifications.domain import texts
from notifications.domain.retry import NO_CONTACT, RetryPolicy, State, Verdict
from notifications.store import Attempt, Deliveries

log = logging.getLogger(__name__)

Doc = dict[str, Any]

# After a wake, look every _HOT_POLL seconds for _HOT_WINDOW seconds (the commit is near).
_HOT_WINDOW = 2.0
_HOT_POLL = 0.02
_MAX_BACKOFF = 10.0


class Dispatcher:
    def __init__(
        self,
        deliveries: Deliveries,
        directory: ContactDirectory,
        sms: SmsSender,
        email: EmailSender,
        policy: RetryPolicy,
        *,
        owner: str,
        lease: timedelta,
        poll_seconds: float,
        concurrency: int,
        events_staged: Callable[[], None] = lambda: None,
        clock: Clock = utc_now,
    ) -> None:
        self.deliveries = deliveries
        self.directory = directory
        self.sms = sms
        self.email = email
        self.policy = policy
        self.owner = owner
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.concurrency = max(1, concurrency)
        self._events_staged = events_staged
        self.clock = clock
        self._wake = asyncio.Event()
        self._hot_until = 0.0
        self.rounds = 0  # completed looks at the collection (for health and tests)

    def wake(self) -> None:
        """New deliveries are (about to be) committed: look now, and keep looking briefly."""
        self._hot_until = time.monotonic() + _HOT_WINDOW
        self._wake.set()

    async def run(self) -> None:
        backoff = self.poll_seconds
        try:
            while True:
                self._wake.clear()
                try:
                    await self.drain()
                except Exception as exc:
                    # The loop outlives a bad round: a stopped dispatcher sends nothing at all.
                    if isinstance(exc, PyMongoError):
                        log.warning("dispatcher: storage error %s; retrying", type(exc).__name__)
                    else:
                        log.exception("dispatcher: round failed; retrying")
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    continue
                self.rounds += 1
                backoff = self.poll_seconds
                hot = time.monotonic() < self._hot_until
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), _HOT_POLL if hot else self.poll_seconds
                    )
        finally:
            await self.directory.aclose()

    async def drain(self) -> int:
        """Send every delivery due now, up to ``concurrency`` at once; returns how many were
        tried. A slot is refilled as soon as its send ends, so a quick SMS never waits for
        a slow e-mail claimed with it."""
        tried = 0
        running: set[asyncio.Task[Verdict]] = set()
        failure: BaseException | None = None
        while True:
            while failure is None and len(running) < self.concurrency:
                delivery = await self.deliveries.claim(self.clock(), self.lease, self.owner)
                if delivery is None:
                    break
                running.add(asyncio.create_task(self.deliver(delivery)))
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

    async def deliver(self, delivery: Doc) -> Verdict:
        """One attempt at one claimed delivery, recorded with its outcome."""
        number = int(delivery["attempt_count"]) + 1
        channel = delivery["channel"]
        error = await self._attempt(delivery)
        now = self.clock()
        verdict = self.policy.judge(number, error, now)
        outcome = "sent" if error is None else NO_CONTACT if error == NO_CONTACT else "error"
        attempt = Attempt(number=number, at=now, outcome=outcome, error=error)
        events = self._report(delivery, verdict, number, error)
        if not await self.deliveries.settle(delivery, attempt, verdict, events):
            # Our lease lapsed mid-send and another replica took the delivery over.
            log.warning("delivery %s: claim lost before its outcome was recorded", delivery["_id"])
            return verdict
        if events:
            self._events_staged()
        if error is None:
            log.info("delivery %s sent over %s (attempt %d)", delivery["_id"], channel, number)
        else:
            log.warning(
                "delivery %s over %s: attempt %d failed (%s); now %s",
                delivery["_id"],
                channel,
                number,
                error,
                verdict.state.value,
            )
        return verdict

    async def _attempt(self, delivery: Doc) -> str | None:
        """Send once; None on success, else what went wrong (a class name, or no_contact)."""
        channel = delivery["channel"]
        try:
            change = texts.StatusChange.from_doc(delivery["message"])
            contacts = await self.directory.contacts(delivery["user_id"])
            destination = contacts.for_channel(channel)
            if destination is None:
                return NO_CONTACT
            if channel == "sms":
                await self.sms.send(destination, texts.sms(change))
            else:
                letter = texts.email(change, contacts.addressee)
                await self.email.send(destination, letter.subject, letter.body)
        except Exception as exc:
            # Only the class: an exception's text (an SMTP refusal, say) can quote the address.
            return type(exc).__name__
        return None

    @staticmethod
    def _report(
        delivery: Doc, verdict: Verdict, attempts: int, error: str | None
    ) -> list[Envelope]:
        common = {
            "notification_id": delivery["notification_id"],
            "user_id": delivery["user_id"],
            "channel": delivery["channel"],
            "trigger_event_id": delivery["trigger_event_id"],
        }
        event: EventData
        if verdict.state is State.SENT:
            event = NotificationSent(**common)
        elif verdict.reported_as_failed:
            event = NotificationFailed(**common, attempts=attempts, error_code=error or "unknown")
        else:
            return []
        return [Envelope.wrap(event, source="notifications", subject=delivery["notification_id"])]
