"""Wires the notifications service from its settings (``main.py`` calls it; tests too)."""

from __future__ import annotations

from fastapi import FastAPI

from emk_common import catalog
from emk_common.service import create_app, create_runtime
from emk_common.settings import decode_keyring
from notifications.adapters.channels import SmsSpool, SmtpSender
from notifications.handlers.otp import OtpDelivery
from notifications.settings import NotificationsSettings


def build(settings: NotificationsSettings) -> FastAPI:
    runtime = create_runtime(
        settings, produces=[catalog.NOTIFICATIONS], outbox_collections=["deliveries"]
    )
    otp = OtpDelivery(
        runtime,
        settings,
        decode_keyring(settings.otp_private_keys) if settings.otp_private_keys else {},
        SmsSpool(settings.emk_var_dir / "sms.jsonl"),
        SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            settings.smtp_timeout_seconds,
        ),
    )
    runtime.consumer.on(catalog.DeliverOtp, name="notifications.deliver_otp")(otp.handle)
    return create_app(
        runtime,
        title="ЭМК — notifications",
        description="SMS, e-mail and in-app notifications, preferences and reminders.",
    )
