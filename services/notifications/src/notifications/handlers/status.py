"""Events a citizen is told of → an in-app notification and a pending delivery per channel.

``ApplicationStatusChanged`` (every status change) and ``BookAccessGranted`` (a medical
organisation opened the book) run through one :class:`Notifier`. It runs inside the inbox
transaction, so a redelivered event creates nothing new. It calls neither identity nor SMTP:
the dispatcher renders and sends after the commit. In-app is always on; SMS and e-mail follow
the person's preferences as they are when the event is handled.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.catalog import ApplicationStatusChanged, BookAccessGranted, NotificationSent
from emk_common.clock import Clock, utc_now
from emk_common.events import Envelope
from emk_common.inbox import after_commit
from notifications.domain import texts
from notifications.store import Deliveries, InApp, Preferences, time_ordered_id

CHANNELS = ("sms", "email")


class Notifier:
    def __init__(
        self,
        in_app: InApp,
        deliveries: Deliveries,
        preferences: Preferences,
        *,
        deliveries_staged: Callable[[], None],
        clock: Clock = utc_now,
    ) -> None:
        self.in_app = in_app
        self.deliveries = deliveries
        self.preferences = preferences
        self._deliveries_staged = deliveries_staged
        self.clock = clock

    async def handle(
        self, event: ApplicationStatusChanged, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        change = texts.StatusChange.of(event)
        await self.notify(
            event.applicant_id, texts.APPLICATION_STATUS, change.to_doc(), envelope, session,
            about={"application_id": event.application_id, "number": event.number,
                   "status": event.status, "status_label": event.status_label},
        )  # fmt: skip

    async def book_access(
        self, event: BookAccessGranted, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        access = texts.BookAccess.of(event)
        await self.notify(
            event.holder_id, texts.BOOK_ACCESS, access.to_doc(), envelope, session,
            about={"book_id": event.book_id, "grant_id": event.grant_id},
        )  # fmt: skip

    async def notify(
        self,
        user_id: str,
        kind: str,
        message: dict[str, Any],
        envelope: Envelope,
        session: AsyncClientSession,
        *,
        about: dict[str, Any],
    ) -> None:
        """One in-app notification now, and a delivery per chosen channel for the dispatcher
        (``message`` is what the texts are made of; rendered at send time with the contacts)."""
        now = self.clock()
        shown = texts.in_app_of(kind, message)
        notification_id = time_ordered_id(now)
        sent_in_app = NotificationSent(
            notification_id=notification_id,
            user_id=user_id,
            channel="in_app",
            trigger_event_id=envelope.id,
        )
        await self.in_app.add(
            {
                "_id": notification_id,
                "user_id": user_id,
                "kind": kind,
                "title": shown.title,
                "text": shown.body,
                **about,
                "trigger_event_id": envelope.id,
                "created_at": now,
                "read_at": None,
            },
            [Envelope.wrap(sent_in_app, source="notifications", subject=notification_id)],
            session,
        )
        preferences = await self.preferences.get(user_id, session=session)
        await self.deliveries.add_pending(
            [
                Deliveries.pending(
                    delivery_id=uuid.uuid4().hex,
                    kind=kind,
                    channel=channel,
                    user_id=user_id,
                    notification_id=notification_id,
                    now=now,
                    trigger_event_id=envelope.id,
                    message=message,
                    **about,
                )
                for channel in CHANNELS
                if preferences[channel]
            ],
            session,
        )
        # Once the transaction has committed: before that, nobody can read these yet.
        after_commit(self._deliveries_staged)
