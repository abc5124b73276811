"""What the notifications routes depend on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from notifications.service import Notifications


async def get_notifications(request: Request) -> Notifications:
    notifications: Notifications = request.app.state.notifications
    return notifications


NotificationsDep = Annotated[Notifications, Depends(get_notifications)]
