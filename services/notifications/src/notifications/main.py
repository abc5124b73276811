"""Builds the notifications service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from notifications.app import build
from notifications.settings import NotificationsSettings

app = build(NotificationsSettings())
