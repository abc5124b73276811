"""What the citizen sees in the personal account (an in-app notification) and what they chose
to receive besides it (preferences)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class ApplicationRef:
    """A notification about an application's status, named as the event named it."""

    application_id: str
    number: str | None
    status: str
    status_label: str | None


@dataclass(frozen=True)
class BookRef:
    """A notification about the medical book: a medical organisation was given access."""

    book_id: str
    grant_id: str


@dataclass(frozen=True)
class ShareRef:
    """A notification about the medical book: someone checked it with a share code (named
    by its id: the code itself is a bearer secret and is never kept here)."""

    book_id: str
    share_id: str


@dataclass(frozen=True)
class DueRef:
    """A reminder: one due item of the book comes near."""

    book_id: str
    item_id: str
    due_date: date


@dataclass(frozen=True)
class ValidityRef:
    """The book stopped being valid."""

    book_id: str


Subject = ApplicationRef | BookRef | ShareRef | DueRef | ValidityRef
BookSubject = BookRef | ShareRef | DueRef | ValidityRef


def time_ordered_id(now: datetime) -> str:
    """32 hex digits: milliseconds first, then randomness. Sorting by id is sorting by time,
    so a page of notifications is one range over one index, and so is its cursor."""
    millis = int(now.timestamp() * 1000)
    return f"{millis:012x}{os.urandom(10).hex()}"


@dataclass(frozen=True)
class Notification:
    id: str
    user_id: str
    kind: str
    title: str
    text: str
    subject: Subject | None
    # The event that caused it.
    trigger_event_id: str
    created_at: datetime
    read_at: datetime | None = None

    @property
    def application(self) -> ApplicationRef | None:
        return self.subject if isinstance(self.subject, ApplicationRef) else None

    @property
    def book(self) -> BookRef | None:
        return self.subject if isinstance(self.subject, BookRef) else None

    @property
    def book_id(self) -> str | None:
        """The book it is about: access given to it, or a check of it."""
        return self.subject.book_id if isinstance(self.subject, BookSubject) else None

    @property
    def status_label(self) -> str | None:
        """Named by the event that caused it (older notifications: the status itself)."""
        application = self.application
        if application is None:
            return None
        return application.status_label or application.status


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    # The last item's id when there are older ones: passed back, it opens the next page.
    next_cursor: str | None
    unread: int


@dataclass(frozen=True)
class Preferences:
    """In-app notifications are always on; SMS and e-mail may be turned off. Reminders go
    out these days before each due date; changing them plans the pending ones again. No SMS
    but one-time codes goes out in the quiet hours, in the person's own time zone."""

    sms: bool = True
    email: bool = True
    reminders_days_before: tuple[int, ...] = (30, 7)
    # The person's own quiet window, (start, end) o'clock in their time zone (it may cross
    # midnight; equal hours: no window). None: the settings' default hours.
    quiet_hours: tuple[int, int] | None = None
    # The time zone (IANA name) of the person's address region as identity last gave it;
    # learnt, never chosen (a choice leaves it as it was); None while not known. What the
    # service answers a person fills in the zone their quiet hours apply in (the settings'
    # without a region).
    time_zone: str | None = None

    def allows(self, channel: str) -> bool:
        return self.sms if channel == "sms" else self.email
