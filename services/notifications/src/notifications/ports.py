"""What the notifications service needs from outside, as protocols; ``adapters/`` implements
them, tests replace them through ``build(...)``; and the store as the use cases see it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.catalog import SealedBox
from emk_common.events import Envelope
from notifications.domain.delivery import Delivery, Settlement
from notifications.domain.notification import Notification, Preferences


class SmsSender(Protocol):
    """The operator's SMS gateway (locally a spool file)."""

    async def send(self, to: str, text: str) -> None: ...


class EmailSender(Protocol):
    """The mail relay (locally a real SMTP server)."""

    async def send(self, to: str, subject: str, text: str) -> None: ...


@dataclass(frozen=True, repr=False)
class Contacts:
    """A person's verified contacts, for one delivery: never stored here."""

    phone: str | None
    email: str | None
    # How a letter greets the person («Мария Сергеевна»).
    addressee: str | None = None

    def __repr__(self) -> str:
        # A stray log line or traceback must not print someone's phone or e-mail.
        return (
            f"Contacts(phone={'set' if self.phone else None}, "
            f"email={'set' if self.email else None})"
        )

    def for_channel(self, channel: str) -> str | None:
        return self.phone if channel == "sms" else self.email


class ContactDirectory(Protocol):
    """Identity's internal API: the contacts at send time (``null`` when not verified)."""

    async def contacts(self, user_id: str) -> Contacts: ...


class IdentityUnavailableError(Exception):
    """Identity did not answer, or answered with a server error (worth retrying)."""


class IdentityRefusedError(Exception):
    """Identity refused the request (unknown user, or our service token was not accepted)."""


@dataclass(frozen=True, repr=False)
class OpenedCode:
    destination: str
    code: str

    def __repr__(self) -> str:
        return "OpenedCode(…)"  # neither may reach a log


class CodeOpener(Protocol):
    """Opens a one-time code's box sealed for this service (raises if it does not open)."""

    def open(self, box: SealedBox, *, associated_data: bytes) -> OpenedCode: ...


# The inbox transaction a handler's writes join (None: on their own).
Session = AsyncClientSession | None


class Store(Protocol):
    """What the use cases need of storage (``store.NotificationStore``; fakes in unit tests)."""

    async def add_notification(
        self, notification: Notification, events: Sequence[Envelope], session: Session
    ) -> None: ...

    async def page(
        self, user_id: str, limit: int, before: str | None
    ) -> tuple[list[Notification], bool]: ...

    async def unread(self, user_id: str) -> int: ...

    async def mark_read(
        self, user_id: str, notification_id: str, now: datetime
    ) -> Notification | None: ...

    async def preferences(self, user_id: str, session: Session = None) -> Preferences: ...

    async def put_preferences(self, user_id: str, chosen: Preferences, now: datetime) -> None: ...

    async def stage(self, deliveries: Sequence[Delivery], session: Session) -> None: ...

    async def claim(self, now: datetime, lease: timedelta, owner: str) -> Delivery | None: ...

    async def settle(
        self, delivery: Delivery, settlement: Settlement, events: Sequence[Envelope]
    ) -> bool: ...
