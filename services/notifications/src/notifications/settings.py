"""Settings of the notifications service (environment prefix ``NOTIFICATIONS_``)."""

from __future__ import annotations

from typing import ClassVar

from emk_common.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: ClassVar[str] = "notifications"

    # X25519 keyring {kid: base64 raw private key} that opens sealed one-time codes.
    otp_private_keys: str = ""
    mail_from: str = "ЭМК <noreply@emk.local>"
    # Delivery attempts per message before it is reported failed, and the pause between them.
    delivery_max_attempts: int = 3
    delivery_backoff_seconds: float = 0.5
    smtp_timeout_seconds: float = 10.0
