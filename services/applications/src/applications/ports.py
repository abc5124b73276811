"""What the applications service needs from outside, as protocols; ``adapters/`` implements
them, tests replace them through ``build(...)``. The store is one too (``store`` on MongoDB,
an in-memory one in the unit tests)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from applications.domain.application import Application, Change
from applications.domain.calendar import CalendarSettings
from applications.domain.parts import Actor, Summary
from applications.domain.registry import Lookup
from emk_common.events import EventData

Peer = Literal["identity", "documents"]


class PeerUnavailableError(Exception):
    """A peer service did not answer in time, or answered with an error: try again later."""

    def __init__(self, peer: Peer) -> None:
        super().__init__(f"{peer} unavailable")
        self.peer = peer


class SignedOutError(Exception):
    """A peer does not accept the caller's token (or the account is gone): sign in again."""


@dataclass(frozen=True)
class OwnDocument:
    document_id: str
    kind: str
    status: str


class Upstream(Protocol):
    """Identity and documents, asked on the caller's behalf with the caller's own token, so
    that they apply their own rules: someone else's document is simply not found."""

    async def account_status(self, authorization: str) -> str:
        """The caller's account status in identity at this moment (``ready`` or not yet)."""
        ...

    async def own_document(self, authorization: str, document_id: str) -> OwnDocument | None:
        """The caller's document, or None when it is unknown or someone else's."""
        ...


class Egrul(Protocol):
    """ЕГРЮЛ/ЕГРИП (local adapter: ``deploy/local/registries/organisations.json``)."""

    async def find(self, inn: str, ogrn: str) -> Lookup:
        """What the register says about this ИНН and ОГРН/ОГРНИП (both format-checked)."""
        ...


class Store(Protocol):
    """The applications as the use cases and the deadline scheduler see them."""

    async def get(self, application_id: str) -> Application | None: ...

    async def create(self, application: Application, events: Iterable[EventData]) -> Application:
        """The new application with its events, in one write; as stored (version 1)."""
        ...

    async def apply(self, before: Application, change: Change) -> Application | None:
        """Writes ``change`` and its events if the application is still the version it was
        decided on; the application as stored after it, or None when another change came
        first (the caller re-reads and decides again)."""
        ...

    async def next_number(self, year: int) -> str:
        """The next number of the year, never given twice: ``2026-000123``."""
        ...

    async def own_page(self, applicant_id: str, before: str | None, limit: int) -> list[Summary]:
        """An applicant's applications, newest first, with ids below ``before``."""
        ...

    async def queue_page(self, lane: str, after: str | None, limit: int) -> list[Summary]:
        """A lane of the operators' queue, oldest due first, queue keys above ``after``."""
        ...

    async def total(self, lane: str) -> int:
        """How many applications a lane holds (``applicant:<id>`` for an applicant's own)."""
        ...

    async def recount(self) -> None:
        """Repairs the working lanes' counters from the applications themselves."""
        ...

    async def claim_due(self, now: datetime, hold: timedelta, owner: str) -> Application | None:
        """One application whose timer is due by ``now`` and that nobody else holds, held
        by ``owner`` for ``hold``."""
        ...

    async def record_document(
        self,
        document_id: str,
        owner_id: str,
        status: str,
        at: datetime,
        session: AsyncClientSession | None,
    ) -> None:
        """A document's review status as the documents service reports it; a decision
        never goes back to ``pending_review``."""
        ...

    async def document_statuses_of(self, document_ids: Iterable[str]) -> dict[str, str]:
        """The known review status of each of these documents, by id."""
        ...

    async def log_read(
        self, application: Application, reader: Actor, reason: str, at: datetime
    ) -> None:
        """A staff member read the application, for this reason (the access log)."""
        ...

    async def log_listed(
        self, rows: Sequence[Summary], reader: Actor, reason: str, at: datetime
    ) -> None:
        """A staff member was shown these applications in a list, for this reason: one
        access-log entry each, in one write."""
        ...

    async def calendar_settings(self) -> CalendarSettings: ...

    async def save_calendar(
        self, settings: CalendarSettings, actor: Actor, now: datetime
    ) -> None: ...
