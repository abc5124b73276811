"""What the notifications service needs from outside, as protocols; ``adapters/`` implements
them, tests replace them through ``build(...)``; and the store as the use cases see it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.audit import AccessRecorder
from emk_common.catalog import DueItem, SealedBox
from emk_common.events import Envelope
from notifications.domain.delivery import Delivery, Settlement
from notifications.domain.notification import Notification, Preferences
from notifications.domain.reminders import Reminder

T = TypeVar("T")


class SmsSender(Protocol):
    """The operator's SMS gateway (locally a spool file). ``key`` is the delivery's id: a
    gateway that dedupes on it never sends one delivery twice (a replica that died after
    sending leaves the delivery to be tried again)."""

    async def send(self, to: str, text: str, *, key: str) -> None: ...


class EmailSender(Protocol):
    """The mail relay (locally a real SMTP server); ``key`` becomes the ``Message-ID``. With
    ``html`` the letter is ``multipart/alternative``: the plain text, then the same as HTML."""

    async def send(
        self, to: str, subject: str, text: str, *, key: str, html: str | None = None
    ) -> None: ...


@dataclass(frozen=True, repr=False)
class Contacts:
    """A person's verified contacts, for one delivery: never stored here."""

    phone: str | None
    email: str | None
    # How a letter greets the person («Мария Сергеевна»).
    addressee: str | None = None
    # The subject code of the registration address (its time zone is the person's for the
    # quiet hours); None before the personal data is entered.
    region_code: str | None = None

    def __repr__(self) -> str:
        # A stray log line or traceback must not print someone's phone or e-mail.
        return (
            f"Contacts(phone={'set' if self.phone else None}, "
            f"email={'set' if self.email else None})"
        )

    def for_channel(self, channel: str) -> str | None:
        return self.phone if channel == "sms" else self.email


class ContactDirectory(Protocol):
    """Identity's internal API: the contacts at send time (``null`` when not verified)."""

    async def contacts(self, user_id: str) -> Contacts: ...


class IdentityUnavailableError(Exception):
    """Identity did not answer, or answered with a server error (worth retrying)."""


class IdentityRefusedError(Exception):
    """Identity refused the request (unknown user, or our service token was not accepted)."""


class ChangeComments(Protocol):
    """Applications' internal API: the comment of one change of an application (an
    operator's or the applicant's words, a rejection's reason). Its events say only that there
    is one and at which ``seq`` of the history (issue #13: no free text on topics)."""

    async def comment(self, application_id: str, seq: int) -> str: ...


class ApplicationsUnavailableError(Exception):
    """Applications did not answer, or answered with a server error (worth retrying)."""


class ApplicationsRefusedError(Exception):
    """Applications refused the request (no such change or comment, or our service token
    was not accepted): asking again would not help."""


@dataclass(frozen=True, repr=False)
class OpenedCode:
    destination: str
    code: str

    def __repr__(self) -> str:
        return "OpenedCode(…)"  # neither may reach a log


class CodeOpener(Protocol):
    """Opens a one-time code's box sealed for this service (raises if it does not open)."""

    def open(self, box: SealedBox, *, associated_data: bytes) -> OpenedCode: ...


# The inbox transaction a handler's writes join (None: on their own).
Session = AsyncClientSession | None


class ReminderStore(Protocol):
    """Reminders and each book's due items (``store.reminders.Reminders``)."""

    async def keep_due(
        self, book_id: str, user_id: str, due: Sequence[DueItem], session: Session
    ) -> None: ...

    async def due_of(
        self, user_id: str, session: Session = None
    ) -> list[tuple[str, list[DueItem]]]: ...

    async def swap_validity(
        self, book_id: str, user_id: str, validity: str, session: Session
    ) -> str | None: ...

    async def replan(self, book_id: str, planned: Iterable[Reminder], session: Session) -> None: ...

    async def claim_reminder(
        self, now: datetime, lease: timedelta, owner: str
    ) -> Reminder | None: ...

    async def mark_fired(
        self, reminder: Reminder, now: datetime, session: Session, *, sent: bool
    ) -> None:
        """Sent or (``sent`` false) cancelled, with the overdue reminders of the same due date
        cancelled; raises ``FiredElsewhereError`` if the claim was lost."""
        ...


class FiredElsewhereError(Exception):
    """The claim on a reminder was lost before it fired (another replica took it over)."""


class Store(Protocol):
    """What the use cases need of storage (``store.NotificationStore``; fakes in unit tests)."""

    @property
    def access_log(self) -> AccessRecorder: ...

    async def deliveries_of(self, user_id: str, limit: int) -> list[Delivery]:
        """Newest first, without any sealed box."""
        ...

    async def sms_sent_since(self, user_id: str, since: datetime) -> list[datetime]:
        """When each SMS but one-time codes sent to the person since ``since`` went, oldest
        first."""
        ...

    async def fold(self, delivery: Delivery, summary: Delivery, now: datetime) -> bool:
        """Folds the claimed ``delivery`` into the pending ``summary`` SMS (made if new, its
        count raised); False if the claim was lost."""
        ...

    @property
    def reminders(self) -> ReminderStore: ...

    async def in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T: ...

    async def hold(self, delivery: Delivery, until: datetime) -> bool:
        """Back to pending until ``until``, no attempt counted (quiet hours); False if the
        claim was lost."""
        ...

    async def add_notification(
        self, notification: Notification, events: Sequence[Envelope], session: Session
    ) -> None: ...

    async def page(
        self, user_id: str, limit: int, before: str | None
    ) -> tuple[list[Notification], bool]: ...

    async def unread(self, user_id: str) -> int: ...

    async def mark_read(
        self, user_id: str, notification_id: str, now: datetime
    ) -> Notification | None: ...

    async def preferences(self, user_id: str, session: Session = None) -> Preferences: ...

    async def put_preferences(self, user_id: str, chosen: Preferences, now: datetime) -> None:
        """Stores the choices; the learnt ``time_zone`` stays as it was."""
        ...

    async def learn_time_zone(self, user_id: str, zone: str | None) -> None:
        """Keeps the time zone (an IANA name) of the person's address region with their
        preferences (None: no region now)."""
        ...

    async def stage(self, deliveries: Sequence[Delivery], session: Session) -> None: ...

    async def claim(self, now: datetime, lease: timedelta, owner: str) -> Delivery | None: ...

    async def settle(
        self, delivery: Delivery, settlement: Settlement, events: Sequence[Envelope]
    ) -> bool: ...
