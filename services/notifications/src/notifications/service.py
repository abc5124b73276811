"""The use cases of the notifications service: tell a person of what happened (in-app now,
SMS and e-mail staged for the dispatcher), stage a one-time code, show a person their own
notifications and preferences, and dispatch a due delivery.

Telling and staging run inside the inbox transaction of the event that caused them, so a
redelivered event creates nothing new; they call neither identity nor a channel (no network
inside a transaction) and wake the dispatcher once the transaction has committed.
Dispatching claims a due delivery with a lease, asks identity for the contacts at that
moment (or opens the sealed code), sends, and records the attempt in the write that releases
the claim, with the report (``NotificationSent``/``NotificationFailed``) in the same write.

Quiet hours: no SMS but one-time codes in the person's window (their own hours, else the
settings'), in their time zone — the one of their address region, which identity's answer at
send time gives, else the settings' zone. The region's zone is kept with the preferences, so
staging can hold an SMS too; while it is not known, only the dispatcher holds (it asks
identity anyway), so no SMS waits on a guessed zone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import metrics
from emk_common.auth import Access, PersonalData, Principal
from emk_common.catalog import (
    AccountLocked,
    ApplicationStatusChanged,
    ApplicationStatusChangedV2,
    BookAccessGranted,
    BookDueDatesChanged,
    BookValidityChanged,
    DeliverOtp,
    DueItem,
    NotificationSent,
    RegistrationAttempted,
    ShareChecked,
)
from emk_common.clock import Clock
from emk_common.events import Envelope, EventData
from emk_common.field_errors import FieldError
from emk_common.inbox import after_commit
from emk_common.kafka import DeadLetter, RetryLater
from emk_common.problems import Problem
from emk_identifiers import InvalidIdentifier, region_time_zone
from notifications.domain import texts
from notifications.domain.delivery import CHANNELS, ONE_TIME_CODE, Delivery, Unreadable, mask
from notifications.domain.notification import (
    ApplicationRef,
    BookRef,
    DueRef,
    Notification,
    NotificationPage,
    Preferences,
    ShareRef,
    Subject,
    ValidityRef,
    time_ordered_id,
)
from notifications.domain.reminders import MOSCOW, QuietHours, Reminder, plan, quiet_hours_of
from notifications.domain.retry import EXPIRED, NO_CONTACT, RetryPolicy, State, Verdict
from notifications.ports import (
    ApplicationsRefusedError,
    ApplicationsUnavailableError,
    ChangeComments,
    CodeOpener,
    ContactDirectory,
    Contacts,
    EmailSender,
    FiredElsewhereError,
    Session,
    SmsSender,
    Store,
)

log = logging.getLogger(__name__)
_HOUR = timedelta(hours=1)

# Staff read a person's deliveries only with a reason; an admin sees them too (they are
# metadata: no text, no code, no address).
DELIVERIES = PersonalData(
    what="к доставкам уведомлений человека",
    not_found="Доставки не найдены.",
    admin_refused="Содержимое уведомлений администратору недоступно.",
)


class Notifications:
    def __init__(
        self,
        store: Store,
        *,
        directory: ContactDirectory,
        sms: SmsSender,
        email: EmailSender,
        codes: CodeOpener,
        policy: RetryPolicy,
        otp_policy: RetryPolicy,
        owner: str,
        lease: timedelta,
        clock: Clock,
        deliveries_staged: Callable[[], None],
        quiet: QuietHours | None = None,
        sms_per_hour: int = 0,
        reminder_hour: int = 10,
        reminders_planned: Callable[[], None] = lambda: None,
        comments: ChangeComments | None = None,
    ) -> None:
        self.store = store
        self.directory = directory
        # Where a v2 status change's comment is read (None: no event with one is expected).
        self.comments = comments
        self.sms = sms
        self.email = email
        self.codes = codes
        self.policy = policy
        # A one-time code lives minutes: its retries come within seconds.
        self.otp_policy = otp_policy
        self.owner = owner
        self.lease = lease
        self.clock = clock
        self._deliveries_staged = deliveries_staged
        # No SMS in these hours but one-time codes, unless the person chose their own (None:
        # SMS at any hour); its zone is the one of people whose region is not known.
        self.quiet = quiet
        self.default_zone = MOSCOW if quiet is None else quiet.zone
        # SMS a person may get in any hour, codes excepted (0: no limit); past it, folded.
        self.sms_per_hour = sms_per_hour
        # Reminders go out at this hour (Moscow) on their day.
        self.reminder_hour = reminder_hour
        self._reminders_planned = reminders_planned

    # --- telling people (inside the inbox transaction) ----------------------------------

    async def status_changed(
        self,
        event: ApplicationStatusChanged | ApplicationStatusChangedV2,
        event_id: str,
        session: Session,
    ) -> None:
        """Told as it always was, whichever version came: v1 carries its comment, v2 only
        says there is one, read from applications here (:meth:`_comment_of`)."""
        comment = (
            await self._comment_of(event)
            if isinstance(event, ApplicationStatusChangedV2)
            else event.comment
        )
        subject = ApplicationRef(
            event.application_id, event.number, event.status, event.status_label
        )
        message = texts.StatusChange.of(event, comment)
        await self._notify(event.applicant_id, message, subject, event_id, session)

    async def _comment_of(self, event: ApplicationStatusChangedV2) -> str | None:
        """The comment the event says there is, from applications' internal API. The one call
        to a peer while an event is handled (inside its inbox transaction, bounded by the
        client's timeout): the text is kept with the notification, as a v1 event's was.
        Applications away, busy or refusing our token: ``RetryLater`` (the event waits, never
        dead-lettered); no such change (404) would not pass on retrying: ``DeadLetter``."""
        if not event.has_comment:
            return None
        if self.comments is None:
            raise DeadLetter("no source of the comments of application changes is wired")
        try:
            return await self.comments.comment(event.application_id, event.seq)
        except ApplicationsUnavailableError as exc:
            raise RetryLater(f"applications: {exc}") from None
        except ApplicationsRefusedError as exc:
            raise DeadLetter(f"applications refused a change's comment: {exc}") from None

    async def book_access_granted(
        self, event: BookAccessGranted, event_id: str, session: Session
    ) -> None:
        subject = BookRef(event.book_id, event.grant_id)
        await self._notify(event.holder_id, texts.BookAccess.of(event), subject, event_id, session)

    async def book_checked(self, event: ShareChecked, event_id: str, session: Session) -> None:
        """Someone checked the book with a share code: records raises this at most once a
        Moscow day per code, so each one is told (a redelivery is the inbox's to skip)."""
        subject = ShareRef(event.book_id, event.share_id)
        await self._notify(event.holder_id, texts.BookCheck.of(event), subject, event_id, session)

    async def account_locked(self, event: AccountLocked, event_id: str, session: Session) -> None:
        """Sign-in was locked after password failures: the person is told (if it was not
        them, someone is guessing their password)."""
        message = texts.AccountLock(event.until)
        await self._notify(event.user_id, message, None, event_id, session)

    async def registration_attempted(
        self, event: RegistrationAttempted, event_id: str, session: Session
    ) -> None:
        """Someone registered with the person's phone, e-mail or СНИЛС, and was answered as if
        it worked (no account oracle): the owner learns it on their own contacts."""
        message = texts.RegistrationAttempt(tuple(event.logins))
        await self._notify(event.user_id, message, None, event_id, session)

    async def due_dates_changed(
        self, event: BookDueDatesChanged, event_id: str, session: Session
    ) -> None:
        """The book's due items now: its reminders are planned again from them (moved due
        dates cancel what was pending for the old ones)."""
        reminders = self.store.reminders
        await reminders.keep_due(event.book_id, event.holder_id, event.due, session)
        preferences = await self.store.preferences(event.holder_id, session=session)
        await reminders.replan(
            event.book_id, self._plan(event.holder_id, event.book_id, event.due, preferences),
            session,
        )  # fmt: skip
        after_commit(self._reminders_planned)  # one may be due at once

    async def validity_changed(
        self, event: BookValidityChanged, event_id: str, session: Session
    ) -> None:
        """The book became «Не действует»: the holder is told, once (not again while it
        stays so, whatever the next event says of why)."""
        before = await self.store.reminders.swap_validity(
            event.book_id, event.holder_id, event.status, session
        )
        if event.status == "not_valid" and before != "not_valid":
            message = texts.BookNotValid()
            subject = ValidityRef(event.book_id)
            await self._notify(event.holder_id, message, subject, event_id, session)

    def _plan(
        self, user_id: str, book_id: str, due: Sequence[DueItem], preferences: Preferences
    ) -> list[Reminder]:
        return plan(
            user_id=user_id, book_id=book_id, due=due,
            days_before=preferences.reminders_days_before, now=self.clock(),
            send_hour=self.reminder_hour,
        )  # fmt: skip

    async def claim_reminder(self) -> Reminder | None:
        return await self.store.reminders.claim_reminder(self.clock(), self.lease, self.owner)

    async def fire(self, reminder: Reminder) -> bool:
        """The claimed reminder's notification and deliveries, and the reminder marked sent
        (other overdue ones of its due date cancelled), in one transaction on the claim;
        False if another replica took it over. One whose date has passed meanwhile (the
        service was down) is cancelled, not sent."""
        now = self.clock()
        days_left = reminder.days_left(now)
        message = texts.DueReminder(reminder.due_kind, reminder.due_date, days_left)
        subject = DueRef(reminder.book_id, reminder.item_id, reminder.due_date)

        async def fire(session: AsyncClientSession) -> None:
            await self.store.reminders.mark_fired(reminder, now, session, sent=days_left > 0)
            if days_left > 0:
                trigger = f"reminder:{reminder.id}"
                await self._notify(reminder.user_id, message, subject, trigger, session)

        try:
            await self.store.in_transaction(fire)
        except FiredElsewhereError:
            log.warning("reminder %s: claim lost before it fired", reminder.id)
            return False
        return days_left > 0

    async def _notify(
        self,
        user_id: str,
        message: texts.Message,
        subject: Subject | None,
        event_id: str,
        session: Session,
    ) -> None:
        """One in-app notification now (always on), and a delivery per channel the person
        has not turned off, rendered at send time with the contacts of that moment. An SMS
        staged in the person's quiet hours waits for their end (if their time zone is not
        known yet, the dispatcher holds it, having asked identity)."""
        now = self.clock()
        kind = texts.kind_of(message)
        shown = texts.in_app_of(message)
        notification = Notification(
            id=time_ordered_id(now),
            user_id=user_id,
            kind=kind,
            title=shown.title,
            text=shown.body,
            subject=subject,
            trigger_event_id=event_id,
            created_at=now,
        )
        sent_in_app = NotificationSent(
            notification_id=notification.id,
            user_id=user_id,
            channel="in_app",
            trigger_event_id=event_id,
        )
        await self.store.add_notification(
            notification, [self._wrap(sent_in_app, notification.id, now)], session
        )
        preferences = await self.store.preferences(user_id, session=session)
        zone = None if preferences.time_zone is None else self._zone_named(preferences.time_zone)
        quiet_until = None if zone is None else self._quiet_until(now, preferences, zone)
        staged = [
            Delivery.of_message(
                delivery_id=uuid.uuid4().hex,
                channel=channel,
                user_id=user_id,
                notification_id=notification.id,
                trigger_event_id=event_id,
                kind=kind,
                message=message,
                subject=subject,
                now=now,
                not_before=quiet_until if channel == "sms" else None,
            )
            for channel in CHANNELS
            if preferences.allows(channel)
        ]
        await self.store.stage(staged, session)
        # Once the transaction has committed: before that, nobody can read these yet.
        after_commit(self._deliveries_staged)

    async def stage_one_time_code(
        self, command: DeliverOtp, event_id: str, session: Session
    ) -> None:
        """Keep the command's sealed box (encrypted to this service's own key, as safe as the
        Kafka record it came in) for the dispatcher; open nothing, send nothing."""
        delivery = Delivery.of_code(
            delivery_id=uuid.uuid4().hex,
            channel=command.channel,
            user_id=command.user_id,
            # The id of the event carrying the box: its associated data.
            trigger_event_id=event_id,
            purpose=command.purpose,
            expires_at=command.expires_at,
            sealed=command.sealed,
            now=self.clock(),
        )
        await self.store.stage([delivery], session)
        if delivery.state is State.EXPIRED:
            log.info("one-time code expired before delivery; dropped", extra={"event_id": event_id})
            return
        after_commit(self._deliveries_staged)

    # --- a person's own notifications and preferences -----------------------------------

    async def page(self, user_id: str, limit: int, cursor: str | None) -> NotificationPage:
        items, more = await self.store.page(user_id, limit, cursor)
        return NotificationPage(
            items=items,
            next_cursor=items[-1].id if more and items else None,
            unread=await self.store.unread(user_id),
        )

    async def mark_read(self, user_id: str, notification_id: str) -> Notification:
        """Idempotent: reading it again keeps the time it was first read. Someone else's
        notification does not exist for you."""
        marked = await self.store.mark_read(user_id, notification_id, self.clock())
        if marked is None:
            raise Problem.not_found("Уведомление не найдено.")
        return marked

    async def preferences(self, user_id: str) -> Preferences:
        """The person's choices, with the time zone their quiet hours apply in: the one
        learnt from their region, else as identity says now (one call, and learnt)."""
        stored = await self.store.preferences(user_id)
        if stored.time_zone is not None:
            return replace(stored, time_zone=self._zone_named(stored.time_zone).key)
        return await self._with_time_zone(user_id, stored)

    async def deliveries_of(
        self, who: Principal, user_id: str | None, reason: str | None, limit: int
    ) -> list[Delivery]:
        """A person's deliveries (channel, state, attempts with masked destinations, why one
        failed — never a text nor a code): their own for a citizen; anyone's for an operator
        with a stated reason and for an admin (metadata), each such read logged for the person
        before it is answered."""
        access = DELIVERIES.check(who, reason=reason, content=False)
        if access is Access.OWNER:
            if user_id not in (None, who.user_id):
                raise Problem.not_found(DELIVERIES.not_found)
            return await self.store.deliveries_of(who.user_id, limit)
        if not user_id:
            asked = FieldError(
                field="user_id", code="missing", message="Укажите, чьи доставки показать."
            )
            raise Problem.validation([asked])
        await self.store.access_log.record(
            user_id, user_id, actor_id=who.user_id, actor_role=who.role,
            action="deliveries.read", reason=reason, at=self.clock(),
        )  # fmt: skip
        return await self.store.deliveries_of(user_id, limit)

    async def choose(self, user_id: str, chosen: Preferences) -> Preferences:
        """SMS and e-mail choices and the quiet hours apply to what is handled after the
        change (an SMS already held keeps its time, and is looked at again then); new
        reminder days plan the person's pending reminders again."""
        await self.store.put_preferences(user_id, chosen, self.clock())
        for book_id, due in await self.store.reminders.due_of(user_id):
            await self._replan(book_id, self._plan(user_id, book_id, due, chosen))
        self._reminders_planned()
        # Asked afresh: choosing is when a person who moved expects to see their new zone.
        return await self._with_time_zone(user_id, await self.store.preferences(user_id))

    async def _with_time_zone(self, user_id: str, preferences: Preferences) -> Preferences:
        """The preferences with the zone their quiet hours apply in, as identity's answer
        gives it now; if identity cannot say, the one learnt before, else the settings'."""
        try:
            contacts = await self.directory.contacts(user_id)
        except Exception as exc:
            log.warning("time zone of a person not known now (%s)", type(exc).__name__)
            known = preferences.time_zone
            zone = self.default_zone if known is None else self._zone_named(known)
        else:
            zone = await self._learn_zone(user_id, contacts, preferences)
        return replace(preferences, time_zone=zone.key)

    async def _learn_zone(
        self, user_id: str, contacts: Contacts, preferences: Preferences
    ) -> ZoneInfo:
        """The zone the person's quiet hours apply in, from identity's answer: their
        region's (kept with the preferences if new, forgotten if there is no region now),
        else the settings'."""
        zone = self._zone_of(contacts)
        learnt = None if zone is None else zone.key
        if learnt != preferences.time_zone:
            await self.store.learn_time_zone(user_id, learnt)
        return self.default_zone if zone is None else zone

    def _zone_named(self, name: str) -> ZoneInfo:
        """The zone of this IANA name; the default one if this machine's tz database does
        not know it (an SMS is never refused over a zone)."""
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("time zone %s is not in the tz database; default zone used", name)
            return self.default_zone

    def _zone_of(self, contacts: Contacts) -> ZoneInfo | None:
        """The zone of the person's address region (None: no region, or none we know)."""
        if contacts.region_code is None:
            return None
        try:
            name = region_time_zone(contacts.region_code)
        except InvalidIdentifier:
            log.warning("identity gave a region code that is no subject's; default zone used")
            return None
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("time zone %s is not in the tz database; default zone used", name)
            return None

    async def _replan(self, book_id: str, planned: list[Reminder]) -> None:
        async def replan(session: AsyncClientSession) -> None:
            await self.store.reminders.replan(book_id, planned, session)

        await self.store.in_transaction(replan)

    # --- dispatching -----------------------------------------------------------------------

    async def claim_due(self) -> Delivery | None:
        return await self.store.claim(self.clock(), self.lease, self.owner)

    async def deliver(self, delivery: Delivery) -> Verdict:
        """One attempt at one claimed delivery, recorded with its outcome. An SMS other than
        a one-time code that falls in the person's quiet hours (in the zone of the region
        identity gives with the contacts) goes back, unsent, until they end."""
        contacts: Contacts | None = None
        lookup_error: str | None = None
        if not delivery.is_code:
            # One question to identity per delivery: the contacts, and the region with them.
            try:
                contacts = await self.directory.contacts(delivery.user_id)
            except Exception as exc:
                lookup_error = type(exc).__name__
            if delivery.channel == "sms":
                held = await self._held_until(delivery.user_id, contacts)
                if held is not None:
                    if not await self.store.hold(delivery, held):
                        log.warning("delivery %s: claim lost before it was held", delivery.id)
                    else:
                        metrics.DELIVERIES.add(1, {"channel": delivery.channel, "outcome": "held"})
                    return Verdict(State.PENDING, held)
        if await self._folded(delivery):
            metrics.DELIVERIES.add(1, {"channel": delivery.channel, "outcome": State.FOLDED.value})
            return Verdict(State.FOLDED)
        to: str | None = None  # the destination, masked, for the operators' view
        if delivery.is_code:
            policy = self.otp_policy
            if delivery.expired(self.clock()):
                error: str | None = EXPIRED  # nobody could use it now: not sent, not retried
            else:
                error, to = await self._send_code(delivery)
        else:
            policy = self.policy
            if contacts is None:
                # Identity did not answer: a failed attempt like any other.
                error, to = lookup_error or KeyError.__name__, None
            else:
                error, to = await self._send_message(delivery, contacts)
        now = self.clock()
        settlement = delivery.settle(error, now, policy, to=to)
        report = settlement.report
        events = [] if report is None else [self._wrap(report, delivery.notification_id, now)]
        verdict = settlement.verdict
        number, channel = settlement.attempt.number, delivery.channel
        if not await self.store.settle(delivery, settlement, events):
            # Our lease lapsed mid-send and another replica took the delivery over.
            log.warning("delivery %s: claim lost before its outcome was recorded", delivery.id)
            return verdict
        # sent; retry (this attempt failed, another is due); failed, no_contact, expired.
        outcome = "sent" if error is None else verdict.state.value if verdict.final else "retry"
        metrics.DELIVERIES.add(1, {"channel": channel, "outcome": outcome})
        if error is None:
            log.info("delivery %s sent over %s (attempt %d)", delivery.id, channel, number)
        elif error == EXPIRED:
            log.info("delivery %s: the one-time code expired before it was sent", delivery.id)
        else:
            log.warning(
                "delivery %s over %s: attempt %d failed (%s); now %s",
                delivery.id,
                channel,
                number,
                error,
                verdict.state.value,
            )
        return verdict

    async def _held_until(self, user_id: str, contacts: Contacts | None) -> datetime | None:
        """When the person's quiet hours that an SMS now falls in end (None: not in them).
        The zone is the one identity's answer gives (kept for staging if it is new); without
        an answer, the one learnt before, else the settings'."""
        preferences = await self.store.preferences(user_id)
        if contacts is not None:
            zone = await self._learn_zone(user_id, contacts, preferences)
        elif preferences.time_zone is not None:
            zone = self._zone_named(preferences.time_zone)
        else:
            zone = self.default_zone
        return self._quiet_until(self.clock(), preferences, zone)

    async def _send_message(
        self, delivery: Delivery, contacts: Contacts
    ) -> tuple[str | None, str | None]:
        """Send once; (None on success, else what went wrong — a class name, or no_contact;
        the destination masked, once known)."""
        to: str | None = None
        try:
            destination = contacts.for_channel(delivery.channel)
            if destination is None:
                return NO_CONTACT, None
            to = mask(destination)
            message = delivery.message
            if message is None or isinstance(message, Unreadable):
                return (message.error if message is not None else KeyError.__name__), to
            if delivery.channel == "sms":
                await self.sms.send(destination, texts.sms_of(message), key=delivery.id)
            else:
                letter = texts.email_of(message, contacts.addressee)
                await self.email.send(
                    destination, letter.subject, letter.body, key=delivery.id, html=letter.html
                )
        except Exception as exc:
            # Only the class: an exception's text (an SMTP refusal, say) can quote the address.
            return type(exc).__name__, to
        return None, to

    async def _send_code(self, delivery: Delivery) -> tuple[str | None, str | None]:
        """Open the sealed box in memory, send the code to the destination inside, forget
        both; None on success, else the exception's class name (a box that does not open
        is a failed attempt like any other)."""
        code = delivery.code
        to: str | None = None
        try:
            if code is None or code.sealed is None:
                raise KeyError("sealed")
            # The box's associated data is the id of the DeliverOtp event that carried it:
            # a box copied into another event's delivery does not open.
            opened = self.codes.open(
                code.sealed, associated_data=delivery.trigger_event_id.encode()
            )
            to = mask(opened.destination)
            if delivery.channel == "sms":
                text = texts.one_time_code(code.purpose, opened.code)
                await self.sms.send(opened.destination, text, key=delivery.id)
            else:
                letter = texts.one_time_code_email(code.purpose, opened.code)
                await self.email.send(
                    opened.destination,
                    letter.subject,
                    letter.body,
                    key=delivery.id,
                    html=letter.html,
                )
        except Exception as exc:
            # Only the class: neither the code nor the destination may reach a record or log
            # (the destination masked only).
            return type(exc).__name__, to
        return None, to  # the opened box and the text were locals: gone with this frame

    async def _folded(self, delivery: Delivery) -> bool:
        """Past the person's hourly SMS limit (codes and the summary itself excepted), an SMS
        is folded into one summary SMS, due when the oldest of the hour's SMS is an hour old
        (every fold of that full hour counts into the same summary)."""
        limited = delivery.channel == "sms" and delivery.kind not in (
            ONE_TIME_CODE,
            texts.SMS_SUMMARY,
        )
        if not limited or self.sms_per_hour <= 0:
            return False
        now = self.clock()
        sent = await self.store.sms_sent_since(delivery.user_id, now - _HOUR)
        if len(sent) < self.sms_per_hour:
            return False
        free_at = sent[-self.sms_per_hour] + _HOUR
        summary_id = f"sms-summary-{delivery.user_id}-{int(free_at.timestamp())}"
        summary = Delivery.of_message(
            delivery_id=summary_id, channel="sms", user_id=delivery.user_id,
            notification_id=summary_id, trigger_event_id=summary_id, kind=texts.SMS_SUMMARY,
            message=texts.SmsSummary(0), subject=None, now=now, not_before=free_at,
        )  # fmt: skip
        if not await self.store.fold(delivery, summary, now):
            log.warning("delivery %s: claim lost before it was folded", delivery.id)
        else:
            log.info("delivery %s folded into %s (hourly SMS limit)", delivery.id, summary_id)
        return True

    def _quiet_until(
        self, now: datetime, preferences: Preferences, zone: ZoneInfo
    ) -> datetime | None:
        """When the person's quiet hours that ``now`` falls in end; None outside them."""
        quiet = quiet_hours_of(preferences.quiet_hours, self.quiet, zone)
        return None if quiet is None else quiet.until(now)

    @staticmethod
    def _wrap(event: EventData, subject: str, now: datetime) -> Envelope:
        return Envelope.wrap(event, source="notifications", subject=subject, at=now)
