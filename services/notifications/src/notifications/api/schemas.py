"""Request and response bodies of the notifications API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator

from emk_common.field_errors import RequestBody, invalid_value
from notifications.domain.delivery import Delivery
from notifications.domain.notification import Notification, NotificationPage, Preferences
from notifications.domain.retry import State

# A cursor is the id of the last notification of the previous page (see time_ordered_id).
CURSOR_PATTERN = r"^[0-9a-f]{32}$"


class NotificationView(BaseModel):
    id: str
    # What it is about: ``application_status``, ``book_access`` (a medical organisation
    # was given access to the book) or ``book_checked`` (someone checked the book with a
    # share code).
    kind: str
    title: str
    text: str
    application_id: str | None
    book_id: str | None = None
    number: str | None
    status: str | None
    status_label: str | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, notification: Notification) -> NotificationView:
        application = notification.application
        return cls(
            id=notification.id,
            kind=notification.kind,
            title=notification.title,
            text=notification.text,
            application_id=application.application_id if application else None,
            book_id=notification.book_id,
            number=application.number if application else None,
            status=application.status if application else None,
            status_label=notification.status_label,
            created_at=notification.created_at,
            read_at=notification.read_at,
        )


class NotificationPageView(BaseModel):
    items: list[NotificationView]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next, older page.")
    unread: int

    @classmethod
    def of(cls, page: NotificationPage) -> NotificationPageView:
        return cls(
            items=[NotificationView.of(n) for n in page.items],
            next_cursor=page.next_cursor,
            unread=page.unread,
        )


DaysBefore = Annotated[StrictInt, Field(ge=1, le=365)]
Hour = Annotated[StrictInt, Field(ge=0, le=23)]


class QuietHoursBody(RequestBody):
    """No SMS but one-time codes from ``start`` to ``end`` o'clock in the person's time zone
    (the window may cross midnight; equal hours: no window)."""

    start: Hour = Field(description="The hour the window begins, 0–23.")
    end: Hour = Field(description="The hour it ends, 0–23.")


class QuietHoursView(BaseModel):
    start: int
    end: int


class PreferencesBody(RequestBody):
    sms: StrictBool
    email: StrictBool
    reminders_days_before: list[DaysBefore] = Field(
        min_length=1,
        max_length=5,
        description="Days before an exam is due, 1–5 distinct.",
        json_schema_extra={"uniqueItems": True},
    )
    quiet_hours: QuietHoursBody | None = Field(
        default=None,
        description="The person's own quiet window in their time zone; null or left out: "
        "the default window.",
    )

    @field_validator("reminders_days_before")
    @classmethod
    def _distinct(cls, days: list[int]) -> list[int]:
        if len(set(days)) != len(days):
            raise invalid_value("duplicate", "Дни напоминаний не должны повторяться")
        return sorted(days, reverse=True)

    def to_preferences(self) -> Preferences:
        quiet = self.quiet_hours
        return Preferences(
            self.sms,
            self.email,
            tuple(self.reminders_days_before),
            quiet_hours=None if quiet is None else (quiet.start, quiet.end),
        )


class PreferencesView(BaseModel):
    sms: bool
    email: bool
    reminders_days_before: list[int]
    quiet_hours: QuietHoursView | None = Field(
        description="The person's own quiet window; null: the default window."
    )
    time_zone: str = Field(
        description="The IANA time zone the quiet hours apply in: the address region's, "
        "else the service's default (QUIET_HOURS_TIME_ZONE, Europe/Moscow)."
    )

    @classmethod
    def of(cls, preferences: Preferences, default_zone: str) -> PreferencesView:
        quiet = preferences.quiet_hours
        # The service fills the zone in (Notifications.preferences); the fallback is the
        # settings' default zone.
        return cls(
            sms=preferences.sms,
            email=preferences.email,
            reminders_days_before=list(preferences.reminders_days_before),
            quiet_hours=None if quiet is None else QuietHoursView(start=quiet[0], end=quiet[1]),
            time_zone=preferences.time_zone or default_zone,
        )


_STATE_LABELS = {
    "pending": "Ожидает отправки",
    "sent": "Отправлено",
    "failed": "Не доставлено",
    "no_contact": "Нет подтверждённого контакта",
    "expired": "Код истёк до отправки",
}
_CHANNEL_LABELS = {"sms": "SMS", "email": "Электронная почта"}


class AttemptView(BaseModel):
    n: int
    at: datetime
    outcome: str = Field(description="sent, error, no_contact or expired")
    error: str | None = Field(description="The class of the error (never its text).")
    to: str | None = Field(description="Where it went, masked: «+7 *** ***-**-67».")


class DeliveryView(BaseModel):
    """One message over one channel: where it stands and what was tried — never its text or a
    code; the destination of each attempt only masked."""

    id: str
    kind: str
    channel: str
    channel_label: str
    status: str
    status_label: str
    attempt_count: int
    attempts: list[AttemptView]
    failure_reason: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryView:
        state = delivery.state.value
        pending = delivery.state is State.PENDING
        return cls(
            id=delivery.id, kind=delivery.kind, channel=delivery.channel,
            channel_label=_CHANNEL_LABELS.get(delivery.channel, delivery.channel),
            status=state, status_label=_STATE_LABELS.get(state, state),
            attempt_count=delivery.attempt_count,
            attempts=[AttemptView(n=a.number, at=a.at, outcome=a.outcome, error=a.error,
                                  to=a.to) for a in delivery.attempts],
            failure_reason=delivery.failure, created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            finished_at=delivery.finished_at,
        )  # fmt: skip


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
