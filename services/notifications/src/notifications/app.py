"""Wires the notifications service from its settings (``main.py`` calls it; tests too). Every
port can be replaced here, and only here."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from emk_common import catalog
from emk_common.auth import AccessTokenVerifier
from emk_common.clock import Clock, utc_now
from emk_common.service import create_app, create_runtime
from emk_common.service_auth import ServiceAuth, ServiceTokenIssuer
from emk_common.settings import decode_keyring
from notifications.adapters.channels import SmsSpool, SmtpSender
from notifications.adapters.comments import ApplicationComments
from notifications.adapters.directory import IdentityDirectory
from notifications.adapters.sealed import Keyring
from notifications.api import routes, templates
from notifications.dispatcher import Dispatcher
from notifications.domain.reminders import QuietHours
from notifications.domain.retry import RetryPolicy
from notifications.handlers import applications, commands, records
from notifications.handlers import identity as identity_events
from notifications.ports import (
    ChangeComments,
    CodeOpener,
    ContactDirectory,
    EmailSender,
    SmsSender,
)
from notifications.reminders import ReminderLoop
from notifications.service import Notifications
from notifications.settings import NotificationsSettings
from notifications.store import NotificationStore


def build(
    settings: NotificationsSettings,
    *,
    clock: Clock = utc_now,
    sms: SmsSender | None = None,
    email: EmailSender | None = None,
    directory: ContactDirectory | None = None,
    comments: ChangeComments | None = None,
    codes: CodeOpener | None = None,
    verifier: AccessTokenVerifier | None = None,
) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.NOTIFICATIONS],
        outbox_collections=["deliveries", "notifications"],
        clock=clock,
    )
    store = NotificationStore(runtime.db, runtime.outbox)
    if directory is None:
        identity = IdentityDirectory(
            settings.identity_url,
            ServiceAuth(ServiceTokenIssuer.from_settings(settings), "identity"),
            settings.identity_timeout_seconds,
        )
        runtime.shutdown.append(identity.aclose)
        directory = identity
    if comments is None:
        applications_api = ApplicationComments(
            settings.applications_url,
            ServiceAuth(ServiceTokenIssuer.from_settings(settings), "applications"),
            settings.applications_timeout_seconds,
        )
        runtime.shutdown.append(applications_api.aclose)
        comments = applications_api
    if sms is None:
        sms = SmsSpool(settings.emk_var_dir / "sms.jsonl", clock)
    if email is None:
        email = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            settings.smtp_timeout_seconds,
        )
    if codes is None:
        keys = decode_keyring(settings.otp_private_keys) if settings.otp_private_keys else {}
        codes = Keyring(keys)
    dispatcher: Dispatcher
    reminders: ReminderLoop
    notifications = Notifications(
        store,
        directory=directory,
        comments=comments,
        sms=sms,
        email=email,
        codes=codes,
        policy=RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            first_delay=timedelta(seconds=settings.delivery_retry_seconds),
            max_delay=timedelta(seconds=settings.delivery_retry_max_seconds),
        ),
        otp_policy=RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            first_delay=timedelta(seconds=settings.otp_retry_seconds),
            max_delay=timedelta(seconds=settings.otp_retry_max_seconds),
        ),
        owner=f"notifications-{runtime.replica_id}",
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        clock=clock,
        # The loops are made just below; staged deliveries and planned reminders wake them.
        deliveries_staged=lambda: dispatcher.wake(),
        reminders_planned=lambda: reminders.wake(),
        quiet=QuietHours(
            settings.quiet_hours_start,
            settings.quiet_hours_end,
            ZoneInfo(settings.quiet_hours_time_zone),
        ),
        reminder_hour=settings.reminder_hour,
        sms_per_hour=settings.sms_per_person_per_hour,
    )
    dispatcher = Dispatcher(
        notifications,
        poll_seconds=settings.dispatch_poll_seconds,
        concurrency=settings.dispatch_concurrency,
    )
    reminders = ReminderLoop(
        notifications, poll_seconds=settings.reminder_poll_seconds, fired=dispatcher.wake
    )
    applications.subscribe(runtime.consumer, notifications)
    records.subscribe(runtime.consumer, notifications)
    identity_events.subscribe(runtime.consumer, notifications)
    commands.subscribe(runtime.consumer, notifications)
    runtime.startup.append(store.ensure_indexes)
    runtime.background.append(dispatcher.run)
    runtime.background.append(reminders.run)
    app = create_app(
        runtime,
        title="ЭМК — notifications",
        description="SMS, e-mail and in-app notifications, preferences and reminders.",
        routers=[routes.router, templates.router],
    )
    app.state.notifications = notifications
    app.state.dispatcher = dispatcher
    app.state.reminders = reminders
    app.state.access_verifier = verifier or AccessTokenVerifier.from_settings(settings)
    return app
