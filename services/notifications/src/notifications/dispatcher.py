"""Sends pending deliveries: claims, asks identity or opens the sealed box, sends, records,
retries.

Two kinds: a status change (``application_status``: the contacts are asked of identity,
the text rendered from the stored facts) and a one-time code (``one_time_code``: the
destination and the code are in a box sealed for this service, opened in memory only to
send, and dropped from the document once the delivery ends; a code that expired while
waiting is not sent). Each kind has its retry policy: a code lives minutes, so its
retries come within seconds.

Runs as one of the service's background loops. The inbox handlers only write pending
deliveries (no network inside a transaction); this loop picks them up. It is woken in
process once the handler's transaction has committed (``emk_common.inbox.after_commit``)
and polls for the rest: deliveries written by other replicas, retries that fall due,
leases of replicas that died mid-send.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from emk_common.catalog import NotificationFailed, NotificationSent, SealedBox
from emk_common.clock import Clock, utc_now
from emk_common.crypto import open_sealed
from emk_common.events import Envelope, EventData
from emk_common.loops import PollingLoop
from notifications.adapters.channels import EmailSender, SmsSender
from notifications.adapters.directory import ContactDirectory
from notifications.domain import texts
from notifications.domain.retry import EXPIRED, NO_CONTACT, RetryPolicy, State, Verdict
from notifications.store import ONE_TIME_CODE, SEALED, Attempt, Deliveries

log = logging.getLogger(__name__)

Doc = dict[str, Any]

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
        otp_policy: RetryPolicy | None = None,
        private_keys: Mapping[str, bytes] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.deliveries = deliveries
        self.directory = directory
        self.sms = sms
        self.email = email
        self.policy = policy
        # One-time codes: quick retries, and the keyring that opens their sealed boxes.
        self.otp_policy = otp_policy or policy
        self.private_keys: Mapping[str, bytes] = private_keys or {}
        self.owner = owner
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self.loop = PollingLoop(
            "delivery dispatcher", self.drain, poll_seconds, max_backoff_seconds=_MAX_BACKOFF
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
        try:
            await self.loop.run()
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
        policy = self.policy
        if delivery.get("kind") == ONE_TIME_CODE:
            policy = self.otp_policy
            if delivery["expires_at"] <= self.clock():
                error: str | None = EXPIRED  # nobody could use it now: not sent, not retried
            else:
                error = await self._send_code(delivery)
        else:
            error = await self._attempt(delivery)
        now = self.clock()
        verdict = policy.judge(number, error, now)
        outcome = "sent" if error is None else error if error in (NO_CONTACT, EXPIRED) else "error"
        attempt = Attempt(number=number, at=now, outcome=outcome, error=error)
        events = self._report(delivery, verdict, number, error)
        if not await self.deliveries.settle(delivery, attempt, verdict, events):
            # Our lease lapsed mid-send and another replica took the delivery over.
            log.warning("delivery %s: claim lost before its outcome was recorded", delivery["_id"])
            return verdict
        if error is None:
            log.info("delivery %s sent over %s (attempt %d)", delivery["_id"], channel, number)
        elif error == EXPIRED:
            log.info("delivery %s: the one-time code expired before it was sent", delivery["_id"])
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
            kind = delivery.get("kind", texts.APPLICATION_STATUS)
            message = delivery["message"]
            contacts = await self.directory.contacts(delivery["user_id"])
            destination = contacts.for_channel(channel)
            if destination is None:
                return NO_CONTACT
            if channel == "sms":
                await self.sms.send(destination, texts.sms_of(kind, message))
            else:
                letter = texts.email_of(kind, message, contacts.addressee)
                await self.email.send(destination, letter.subject, letter.body)
        except Exception as exc:
            # Only the class: an exception's text (an SMTP refusal, say) can quote the address.
            return type(exc).__name__
        return None

    async def _send_code(self, delivery: Doc) -> str | None:
        """Open the sealed box in memory, send the code to the destination inside, forget
        both; None on success, else the exception's class name (a box that does not open
        is a failed attempt like any other)."""
        channel = delivery["channel"]
        try:
            purpose = delivery["purpose"]
            # The box's associated data is the id of the DeliverOtp event that carried it:
            # a box copied into another event's delivery does not open.
            opened = json.loads(
                open_sealed(
                    SealedBox.model_validate(delivery[SEALED]),
                    private_keys=self.private_keys,
                    associated_data=str(delivery["trigger_event_id"]).encode(),
                )
            )
            text = texts.one_time_code(purpose, opened["code"])
            if channel == "sms":
                await self.sms.send(opened["destination"], text)
            else:
                subject = texts.ONE_TIME_CODE_SUBJECTS[purpose]
                await self.email.send(opened["destination"], subject, text)
        except Exception as exc:
            # Only the class: neither the code nor the destination may reach a record or log.
            return type(exc).__name__
        return None  # the opened box and the text were locals: gone with this frame

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
