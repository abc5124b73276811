"""Builds the notifications service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from emk_common import catalog
from emk_common.service import create_app, create_runtime
from notifications.settings import NotificationsSettings

settings = NotificationsSettings()
runtime = create_runtime(
    settings,
    produces=[catalog.NOTIFICATIONS],
    outbox_collections=["notifications"],
)
app = create_app(
    runtime,
    title="ЭМК — notifications",
    description="SMS, e-mail and in-app notifications, preferences and reminders.",
)
