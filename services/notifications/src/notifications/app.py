"""Wires the notifications service from its settings (``main.py`` calls it; tests too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI

from emk_common import catalog
from emk_common.auth import AccessTokenVerifier
from emk_common.clock import utc_now
from emk_common.service import Runtime, create_app, create_runtime
from emk_common.service_auth import ServiceAuth, ServiceTokenIssuer
from emk_common.settings import decode_keyring
from notifications.adapters.channels import SmsSpool, SmtpSender
from notifications.adapters.directory import IdentityDirectory
from notifications.api import routes
from notifications.dispatcher import Dispatcher
from notifications.domain.retry import RetryPolicy
from notifications.handlers.otp import OtpDelivery
from notifications.handlers.status import Notifier
from notifications.settings import NotificationsSettings
from notifications.store import Deliveries, InApp, Preferences


@dataclass
class Notifications:
    """The service's parts, for tests and tools: ``app.state.service``."""

    runtime: Runtime
    in_app: InApp
    deliveries: Deliveries
    preferences: Preferences
    status: Notifier
    dispatcher: Dispatcher


def build(settings: NotificationsSettings) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.NOTIFICATIONS],
        outbox_collections=["deliveries", "notifications"],
    )
    sms = SmsSpool(settings.emk_var_dir / "sms.jsonl")
    email = SmtpSender(
        settings.smtp_host, settings.smtp_port, settings.mail_from, settings.smtp_timeout_seconds
    )
    in_app = InApp(runtime.collection("notifications"), runtime.outbox)
    deliveries = Deliveries(runtime.collection("deliveries"), runtime.outbox)
    preferences = Preferences(runtime.collection("preferences"))
    dispatcher = Dispatcher(
        deliveries,
        IdentityDirectory(
            settings.identity_url,
            ServiceAuth(ServiceTokenIssuer.from_settings(settings), "identity"),
            settings.identity_timeout_seconds,
        ),
        sms,
        email,
        RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            first_delay=timedelta(seconds=settings.delivery_retry_seconds),
            max_delay=timedelta(seconds=settings.delivery_retry_max_seconds),
        ),
        otp_policy=RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            first_delay=timedelta(seconds=settings.otp_retry_seconds),
            max_delay=timedelta(seconds=settings.otp_retry_max_seconds),
        ),
        private_keys=(
            decode_keyring(settings.otp_private_keys) if settings.otp_private_keys else {}
        ),
        owner=f"notifications-{runtime.replica_id}",
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        poll_seconds=settings.dispatch_poll_seconds,
        concurrency=settings.dispatch_concurrency,
    )
    status = Notifier(in_app, deliveries, preferences, deliveries_staged=dispatcher.wake)
    runtime.consumer.on(catalog.ApplicationStatusChanged, name="notifications.application_status")(
        status.handle
    )
    runtime.consumer.on(catalog.BookAccessGranted, name="notifications.book_access")(
        status.book_access
    )
    otp = OtpDelivery(deliveries, deliveries_staged=dispatcher.wake)
    runtime.consumer.on(catalog.DeliverOtp, name="notifications.deliver_otp")(otp.handle)

    async def _prepare() -> None:
        await in_app.ensure_indexes()
        await deliveries.ensure_indexes()

    runtime.startup.append(_prepare)
    runtime.background.append(dispatcher.run)
    app = create_app(
        runtime,
        title="ЭМК — notifications",
        description="SMS, e-mail and in-app notifications, preferences and reminders.",
        routers=[routes.router],
    )
    app.state.notifications = routes.NotificationsApi(in_app, preferences, utc_now)
    app.state.service = Notifications(runtime, in_app, deliveries, preferences, status, dispatcher)
    app.state.access_verifier = AccessTokenVerifier.from_settings(settings)
    return app
