"""Who may open a book: the holder's visit codes and grants, a medical worker's lookup by
what the person presents (limited per worker when it fails), and the books open to the
worker's organisation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from emk_common.auth import Principal
from emk_common.problems import Problem
from records.domain import book as domain
from records.domain.book import Book, Organization
from records.service.core import Core, busy, new_id, not_found

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_FAILED_LOOKUPS = "failed-lookups"


@dataclass(frozen=True)
class VisitCode:
    code: str
    expires_at: datetime


class Access(Core):
    # --- the holder ----------------------------------------------------------------------

    async def visit_code(self, who: Principal) -> VisitCode:
        """A single-use code the holder shows a medical worker (opens the book for 30 days)."""
        book = await self.own_book(who)
        now = self.clock()
        code = "".join(secrets.choice(_BASE32) for _ in range(self.settings.visit_code_length))
        expires_at = now + timedelta(hours=self.settings.visit_code_hours)
        await self.store.add_visit_code(code, book.id, now, expires_at)
        return VisitCode(code, expires_at)

    async def end_grant(self, who: Principal, grant_id: str) -> None:
        book = await self.own_book(who)
        if not any(g.id == grant_id for g in book.grants):
            raise not_found("Доступ не найден.")
        await self.change(book, self.ending([grant_id], who.user_id), busy=busy)

    # --- medical workers -----------------------------------------------------------------

    async def lookup(
        self, who: Principal, *, snils: str | None, number: str | None, visit_code: str | None
    ) -> Book:
        """Find a book by what the person presents; it opens to the worker's organisation."""
        organisation = await self.worker_organisation(who)
        now = self.clock()
        window = timedelta(minutes=self.settings.lookup_failure_window_minutes)
        # Counted before the lookup (and given back when it finds the book), so lookups sent
        # at once cannot all pass a check made before any of them was counted.
        wait = await self.store.limits.hit(
            _FAILED_LOOKUPS, who.user_id, limit=self.settings.lookup_failures_per_window,
            window=window,
        )  # fmt: skip
        if wait is not None:
            raise Problem.rate_limited(wait)
        book: Book | None
        if visit_code is not None:
            book_id = await self.store.use_visit_code(visit_code.upper(), now)
            book = await self.store.get(book_id) if book_id else None
        else:
            book = await self.store.by_identifiers(number or "", snils or "")
        if book is None:
            raise not_found(
                "Медицинская книжка не найдена: проверьте СНИЛС и номер книжки или код визита."
            )
        await self.store.limits.forgive(_FAILED_LOOKUPS, who.user_id, window=window)
        via: domain.GrantVia = "visit_code" if visit_code is not None else "identifiers"
        organization = Organization(organisation.ogrn, organisation.name)
        await self.store.opened_by(who.user_id, book.id)
        book = await self.change(
            book,
            lambda b: domain.open_to(
                b, grant_id=new_id(), organization=organization, worker_id=who.user_id,
                via=via, now=now, days=self.settings.grant_days,
            ),
            busy=busy,
        )  # fmt: skip
        await self.log_access(book, who, "lookup", f"Поиск книжки ({via})")
        if await self.store.is_deactivated(who.user_id):
            # Deactivated while this lookup ran: the handler may have listed the worker's
            # grants before this one was written, so it ends here, with the worker.
            ours = [g.id for g in book.grants if g.granted_by == who.user_id]
            await self.change(book, self.ending(ours, "deactivation"), busy=busy)
            raise Problem.forbidden("Учётная запись сотрудника отключена.")
        return book

    async def granted_book(
        self, who: Principal, book_id: str, *, records: bool = False
    ) -> tuple[Book, Organization]:
        organisation = await self.worker_organisation(who)
        book = await self.store.get(book_id, records=records)
        if book is None or not book.open_to(organisation.ogrn, self.clock()):
            raise not_found()
        return book, Organization(organisation.ogrn, organisation.name)

    async def granted_shown(self, who: Principal, book_id: str) -> tuple[Book, str]:
        """A book open to the worker's organisation, for reading (see ``Store.shown``)."""
        organisation = await self.worker_organisation(who)
        found = await self.store.shown(book_id)
        if found is None or not found[0].open_to(organisation.ogrn, self.clock()):
            raise not_found()
        return found
