"""On ``emk.records``: ``BookAccessGranted`` → the holder is told which medical organisation
opened their book, until when; ``ShareChecked`` → the holder is told their book was checked
with a share code, and when (records raises it at most once a Moscow day per code);
``BookDueDatesChanged`` → the book's reminders are planned again; ``BookValidityChanged`` →
the holder is told once when the book stops being valid."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.kafka import EventConsumer
from notifications.service import Notifications


def subscribe(consumer: EventConsumer, notifications: Notifications) -> None:
    @consumer.on(catalog.BookAccessGranted, name="notifications.book_access")
    async def book_access(
        event: catalog.BookAccessGranted, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.book_access_granted(event, envelope.id, session)

    @consumer.on(catalog.ShareChecked, name="notifications.book_checked")
    async def book_checked(
        event: catalog.ShareChecked, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.book_checked(event, envelope.id, session)

    @consumer.on(catalog.BookDueDatesChanged, name="notifications.due_dates")
    async def due_dates(
        event: catalog.BookDueDatesChanged, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.due_dates_changed(event, envelope.id, session)

    @consumer.on(catalog.BookValidityChanged, name="notifications.book_validity")
    async def book_validity(
        event: catalog.BookValidityChanged, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        await notifications.validity_changed(event, envelope.id, session)
