"""Request and response bodies of the notifications API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator

from emk_common.field_errors import RequestBody, invalid_value
from notifications.domain.notification import Notification, NotificationPage, Preferences

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


class PreferencesBody(RequestBody):
    sms: StrictBool
    email: StrictBool
    reminders_days_before: list[DaysBefore] = Field(
        min_length=1, max_length=5, description="Days before an exam is due, 1–5 distinct."
    )

    @field_validator("reminders_days_before")
    @classmethod
    def _distinct(cls, days: list[int]) -> list[int]:
        if len(set(days)) != len(days):
            raise invalid_value("duplicate", "Дни напоминаний не должны повторяться")
        return sorted(days, reverse=True)

    def to_preferences(self) -> Preferences:
        return Preferences(self.sms, self.email, tuple(self.reminders_days_before))


class PreferencesView(BaseModel):
    sms: bool
    email: bool
    reminders_days_before: list[int]

    @classmethod
    def of(cls, preferences: Preferences) -> PreferencesView:
        return cls(
            sms=preferences.sms,
            email=preferences.email,
            reminders_days_before=list(preferences.reminders_days_before),
        )
