"""Settings of the notifications service (environment prefix ``NOTIFICATIONS_``)."""

from __future__ import annotations

from typing import ClassVar

from emk_common.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: ClassVar[str] = "notifications"
    http_port: int = 8005  # API.md's local port (``NOTIFICATIONS_HTTP_PORT``)

    # X25519 keyring {kid: base64 raw private key} that opens sealed one-time codes.
    otp_private_keys: str = ""
    # The sender of every letter.
    mail_from: str = "ЭМК <noreply@emk.local>"
    # Delivery attempts per message before it is reported failed (one-time codes and
    # status changes alike).
    delivery_max_attempts: int = 3
    # How long one SMTP conversation may take before the attempt counts as failed.
    smtp_timeout_seconds: float = 10.0

    # Status-change deliveries are retried later, not in a loop: the first retry waits
    # delivery_retry_seconds, each next one twice as long, never more than the maximum.
    delivery_retry_seconds: float = 30.0
    delivery_retry_max_seconds: float = 900.0
    # A one-time code lives five minutes, so its retries are quick: the first after
    # otp_retry_seconds, each next one twice as long, never more than the maximum.
    otp_retry_seconds: float = 2.0
    otp_retry_max_seconds: float = 30.0
    # A replica holds a claimed delivery this long; it must outlast the slowest send
    # (identity's answer plus SMTP's timeout), or another replica could send it again.
    delivery_lease_seconds: float = 60.0
    # The dispatcher is woken in-process by new deliveries; it also polls (other replicas'
    # deliveries, retries that fall due) this often, and sends this many side by side.
    dispatch_poll_seconds: float = 1.0
    dispatch_concurrency: int = 8
    # Contacts are asked of identity at send time, never stored here.
    identity_timeout_seconds: float = 5.0
    # The comment of an application's change is asked of applications' internal API while its
    # event is handled (events carry no free text); where applications is (``APPLICATIONS_URL``
    # works too, as the local stack sets it), and how long it may take: the event's inbox
    # transaction waits for it.
    applications_url: str = "http://127.0.0.1:8002"
    applications_timeout_seconds: float = 5.0

    # Reminders before due dates: sent at this hour (Moscow) on their day; due ones are
    # looked for this often (and at once when planned), each claimed for this long.
    reminder_hour: int = 10
    reminder_poll_seconds: float = 30.0
    # No SMS but one-time codes from quiet_hours_start to quiet_hours_end o'clock (held until
    # the window ends; in-app and e-mail go at once) unless the person chose their own hours,
    # in the person's time zone (their address region's), or quiet_hours_time_zone for one
    # whose region is not known. Equal hours: no default quiet window.
    quiet_hours_start: int = 21
    quiet_hours_end: int = 9
    quiet_hours_time_zone: str = "Europe/Moscow"
    # At most this many SMS a person in any hour, one-time codes excepted; the ones past it
    # are folded into one summary SMS, sent when the hour allows (0: no limit).
    sms_per_person_per_hour: int = 5
