"""HTTP routes of the notifications service (prefix ``/api/v1/notifications``).

Any signed-in user, and only their own data: someone else's notification is a 404,
exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator

from emk_common.auth import CurrentPrincipal
from emk_common.clock import Clock
from emk_common.field_errors import RequestBody, invalid_value
from emk_common.problems import Problem, problem_responses
from notifications.store import InApp, Preferences

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@dataclass
class NotificationsApi:
    """What the routes reach for; ``app.state.notifications``."""

    in_app: InApp
    preferences: Preferences
    clock: Clock


def get_api(request: Request) -> NotificationsApi:
    api: NotificationsApi = request.app.state.notifications
    return api


ApiDep = Annotated[NotificationsApi, Depends(get_api)]

# A cursor is the id of the last notification of the previous page (see time_ordered_id).
CURSOR_PATTERN = r"^[0-9a-f]{32}$"


class Notification(BaseModel):
    id: str
    # What it is about: ``application_status`` or ``book_access`` (a medical organisation
    # was given access to the book).
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
    def of(cls, doc: dict[str, Any]) -> Notification:
        status = doc.get("status")
        return cls(
            id=doc["_id"],
            kind=doc.get("kind", "application_status"),
            title=doc["title"],
            text=doc["text"],
            application_id=doc.get("application_id"),
            book_id=doc.get("book_id"),
            number=doc.get("number"),
            status=status,
            # Named by the event that caused it (older notifications: the status itself).
            status_label=doc.get("status_label") or status,
            created_at=doc["created_at"],
            read_at=doc.get("read_at"),
        )


class NotificationPage(BaseModel):
    items: list[Notification]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next, older page.")
    unread: int


DaysBefore = Annotated[StrictInt, Field(ge=1, le=365)]


class NotificationPreferences(RequestBody):
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


@router.get("")
async def list_notifications(
    who: CurrentPrincipal,
    api: ApiDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> NotificationPage:
    """Own in-app notifications, newest first."""
    docs, more = await api.in_app.page(who.user_id, limit, cursor)
    return NotificationPage(
        items=[Notification.of(d) for d in docs],
        next_cursor=docs[-1]["_id"] if more and docs else None,
        unread=await api.in_app.unread(who.user_id),
    )


@router.post("/{notification_id}/read", responses=problem_responses(404))
async def mark_read(notification_id: str, who: CurrentPrincipal, api: ApiDep) -> Notification:
    """Idempotent: reading it again keeps the time it was first read."""
    doc = await api.in_app.mark_read(who.user_id, notification_id, api.clock())
    if doc is None:
        raise Problem.not_found("Уведомление не найдено.")
    return Notification.of(doc)


@router.get("/preferences")
async def get_preferences(who: CurrentPrincipal, api: ApiDep) -> NotificationPreferences:
    return NotificationPreferences(**await api.preferences.get(who.user_id))


@router.put("/preferences", responses=problem_responses(422))
async def put_preferences(
    body: NotificationPreferences, who: CurrentPrincipal, api: ApiDep
) -> NotificationPreferences:
    """In-app notifications are always on; SMS and e-mail may be turned off."""
    stored = await api.preferences.put(who.user_id, body.model_dump(), api.clock())
    return NotificationPreferences(**stored)
