"""HTTP routes of the notifications service (prefix ``/api/v1/notifications``).

Any signed-in user, and only their own data: someone else's notification is a 404,
exactly like one that does not exist. Deliveries: an operator (with ``X-Access-Reason``) or
an admin reads anyone's, a citizen their own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from emk_common.auth import AccessReason, CurrentPrincipal
from emk_common.problems import problem_responses
from notifications.api.deps import NotificationsDep
from notifications.api.schemas import (
    CURSOR_PATTERN,
    DeliveryPage,
    DeliveryView,
    NotificationPageView,
    NotificationView,
    PreferencesBody,
    PreferencesView,
)

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@router.get("")
async def list_notifications(
    who: CurrentPrincipal,
    notifications: NotificationsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> NotificationPageView:
    """Own in-app notifications, newest first."""
    return NotificationPageView.of(await notifications.page(who.user_id, limit, cursor))


@router.post("/{notification_id}/read", responses=problem_responses(404))
async def mark_read(
    notification_id: str, who: CurrentPrincipal, notifications: NotificationsDep
) -> NotificationView:
    """Idempotent: reading it again keeps the time it was first read."""
    return NotificationView.of(await notifications.mark_read(who.user_id, notification_id))


@router.get("/preferences")
async def get_preferences(
    who: CurrentPrincipal, notifications: NotificationsDep
) -> PreferencesView:
    """Own choices, and the time zone the quiet hours apply in (the address region's)."""
    return PreferencesView.of(
        await notifications.preferences(who.user_id), notifications.default_zone.key
    )


@router.put("/preferences", responses=problem_responses(422))
async def put_preferences(
    body: PreferencesBody, who: CurrentPrincipal, notifications: NotificationsDep
) -> PreferencesView:
    """In-app notifications are always on; SMS and e-mail may be turned off; no SMS but
    one-time codes in the quiet hours (``quiet_hours``, in the person's time zone; null: the
    default window)."""
    chosen = await notifications.choose(who.user_id, body.to_preferences())
    return PreferencesView.of(chosen, notifications.default_zone.key)


@router.get("/deliveries", responses=problem_responses(401, 404, 422))
async def deliveries(
    who: CurrentPrincipal,
    notifications: NotificationsDep,
    reason: AccessReason,
    user_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    """A person's deliveries, newest first: channel, status, attempts (each's destination
    masked) and why one failed — never a text or a code. Staff name the person (``user_id``)
    and say why."""
    found = await notifications.deliveries_of(who, user_id, reason, limit)
    return DeliveryPage(items=[DeliveryView.of(d) for d in found])
