"""What every use case of the records service shares: the store, the ports, the clock; the
medical worker's standing; writing a decision onto the version it was taken on."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from emk_common.auth import Principal
from emk_common.clock import Clock
from emk_common.kafka import DeadLetter, RetryLater
from emk_common.limits import ReplicaRateLimits
from emk_common.problems import Problem
from records.domain import book as domain
from records.domain.book import Book, Change
from records.domain.dates import moscow_date
from records.ports import (
    Employments,
    MedicalOrganisation,
    MedicalOrganisations,
    PeerRefusedError,
    PeerUnavailableError,
    People,
    SignatureScheme,
    Store,
)
from records.settings import RecordsSettings

T = TypeVar("T")

NO_BOOK = "Медицинская книжка не найдена."


def new_id() -> str:
    return uuid.uuid4().hex


def not_found(detail: str = NO_BOOK) -> Problem:
    return Problem.not_found(detail)


def busy() -> Problem:
    return Problem.conflict("Книжка сейчас изменяется другим действием. Повторите попытку.")


def unb64(value: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


async def peer(call: Awaitable[T]) -> T:
    """A peer's answer, or :class:`RetryLater` while it is down or slow (an event handler
    waits for it; nothing goes to the dead-letter topic for an outage)."""
    try:
        return await call
    except PeerUnavailableError as exc:
        raise RetryLater(str(exc)) from None
    except PeerRefusedError as exc:
        raise DeadLetter(str(exc)) from None


class Core:
    def __init__(
        self,
        store: Store,
        settings: RecordsSettings,
        *,
        people: People,
        employments: Employments,
        organisations: MedicalOrganisations,
        scheme: SignatureScheme,
        clock: Clock,
    ) -> None:
        self.store = store
        self.settings = settings
        self.people = people
        self.employments = employments
        self.organisations = organisations
        self.scheme = scheme
        self.clock = clock
        # The public check's limit per client address: this replica's own, in memory (the
        # gateway limits too); a check must not pay a round trip for it.
        self.public_checks = ReplicaRateLimits(clock)

    async def own_book(self, who: Principal, *, records: bool = False) -> Book:
        book = await self.store.of_holder(who.user_id, records=records)
        if book is None:
            raise not_found("Медицинская книжка ещё не выдана.")
        return book

    async def worker_organisation(self, who: Principal) -> MedicalOrganisation:
        """The medical worker's organisation from the registry; 403 for anyone else."""
        if who.role != "medical_worker":
            raise Problem.forbidden("Действие доступно только медицинским работникам.")
        if await self.store.is_deactivated(who.user_id):
            raise Problem.forbidden("Учётная запись сотрудника отключена.")
        organisation = self.organisations.get(who.organization_id or "")
        if organisation is None:
            raise Problem.forbidden(
                "Организация сотрудника не найдена в реестре медицинских организаций."
            )
        return organisation

    async def log_access(self, book: Book, who: Principal, action: str, reason: str | None) -> None:
        await self.store.access_log.record(
            book.id, book.holder_id, actor_id=who.user_id, actor_role=who.role, action=action,
            reason=reason, at=self.clock(), organization_id=who.organization_id,
        )  # fmt: skip

    def ending(self, grant_ids: list[str], by: str) -> Callable[[Book], Change | None]:
        return lambda book: domain.end_grants(book, grant_ids, by=by, now=self.clock())

    async def change(
        self,
        book: Book,
        decide: Callable[[Book], Change | None],
        busy: Callable[[], Exception] = lambda: RetryLater("the book kept changing"),
    ) -> Book:
        """Decide on the stored version and write conditionally on it; on a race, decide
        again on what the other writer left. Returns the book as written."""
        for _ in range(5):
            change = decide(book)
            if change is None:
                return book
            if await self.store.apply(book, change, moscow_date(self.clock())):
                written = await self.store.get(book.id)
                assert written is not None
                return written
            reread = await self.store.get(book.id)
            if reread is None:
                raise not_found()
            book = reread
        raise busy()
