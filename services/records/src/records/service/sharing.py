"""Sharing: the holder's share codes, the public check made with one, and the employer's
list of the books shared with it.

A code that is unknown, expired or revoked is one answer (``None`` → 404 or the neutral
page): nothing tells which. Every public check is logged on its share before the answer —
counted, its time kept (the holder sees when and how often, beside the code) — and, at most
once a Moscow day per code, raises ``ShareChecked`` so the holder is told.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

from emk_common.auth import Principal
from emk_common.problems import Problem
from records.domain import shares as domain
from records.domain.book import Book
from records.domain.dates import moscow_date
from records.domain.shares import PublicView, Share, ShareChecks
from records.service.core import Core, new_id

# Live codes a holder may have at once: enough for every employer, not for a flood.
MAX_LIVE_SHARES = 20
NO_SHARE = "Код не найден."
PUBLIC_CHECK = "public_check"  # the access log's actor for a check with a code


@dataclass(frozen=True)
class EmployerItem:
    """One worker in the employer's list: nothing medical, valid or not (never why)."""

    book_id: str
    holder: str
    position: str | None
    view: PublicView


class Sharing(Core):
    async def share(self, who: Principal, *, employer_inn: str | None, days: int) -> Share:
        return await self.share_book(await self.own_book(who), employer_inn=employer_inn, days=days)

    async def share_book(self, book: Book, *, employer_inn: str | None, days: int) -> Share:
        """A new code for ``book`` (its holder's, already loaded)."""
        now = self.clock()
        live = [s for s in await self.store.shares_of(book.holder_id) if s.active(now)]
        if len(live) >= MAX_LIVE_SHARES:
            raise Problem.conflict(
                f"Одновременно может действовать не больше {MAX_LIVE_SHARES} кодов. "
                "Отзовите ненужные коды и повторите."
            )
        for _ in range(5):
            made, event = domain.share(book, share_id=new_id(), code=domain.new_code(), now=now,
                                       days=days, employer_inn=employer_inn)  # fmt: skip
            if await self.store.add_share(book, made, [event]):
                return made
            reread = await self.store.get(book.id)  # changed meanwhile: its card with it
            if reread is None:
                raise Problem.not_found(NO_SHARE)
            book = reread
        raise Problem.conflict("Книжка сейчас изменяется. Повторите попытку.")

    def check_url(self, code: str) -> str:
        """The public check page of a code: what its QR encodes (the gateway's address)."""
        return f"{self.settings.public_base_url.rstrip('/')}/check/{code}"

    async def shares(self, who: Principal) -> list[tuple[Share, ShareChecks]]:
        """The holder's codes, newest first, each with the checks made with it."""
        book = await self.own_book(who)
        mine = [s for s in await self.store.shares_of(who.user_id) if s.book_id == book.id]
        checks = await self.store.checks_of(s.id for s in mine)
        return [(s, checks.get(s.id, ShareChecks())) for s in mine]

    async def unshare(self, who: Principal, code: str) -> None:
        """Revokes the holder's own code, at once; someone else's or an unknown one is a 404.
        Revoking a revoked or expired code changes nothing."""
        found = await self._share(code)
        if found is None or found.holder_id != who.user_id:
            raise Problem.not_found(NO_SHARE)
        if found.revoked_at is not None:
            return
        revoked, event = found.revoke(self.clock())
        await self.store.revoke_share(revoked, [event])

    async def check(self, code: str) -> PublicView | None:
        """What the code shows now; None for a code that is unknown, expired or revoked."""
        now = self.clock()
        normalised = _as_code(code)
        found = None if normalised is None else await self.store.share_for_check(normalised)
        if found is None or not found[0].active(now):
            return None
        share, card = found
        logged = self.store.log_check(share, now, moscow_date(now), share.checked(now))
        if card is None:  # a share made before shares kept cards: the book itself
            # The log is written while the book is read: one wait, not two.
            book, _ = await asyncio.gather(self.store.get(share.book_id), logged)
            if book is None:
                return None
            card = domain.public_card(book)
        else:
            await logged
        return domain.public_view(card, now)

    async def employer_books(
        self, who: Principal, *, due_within_days: int | None
    ) -> list[EmployerItem]:
        """The books shared with the employer's ИНН (live shares), each once; with
        ``due_within_days``, only those with an exam or attestation due by then."""
        if who.role != "employer" or not who.organization_id:
            raise Problem.forbidden("Список доступен сотрудникам работодателя.")
        now = self.clock()
        inn = who.organization_id
        books: dict[str, Book] = {}
        for shared in await self.store.shared_with(inn, now):
            if shared.book_id not in books:
                book = await self.store.get(shared.book_id)
                if book is not None:
                    books[book.id] = book
        until = moscow_date(now) + timedelta(days=due_within_days or 0)
        items = []
        for book in books.values():
            view = domain.public_view(domain.public_card(book), now)
            if due_within_days is not None and not _due_by(view, until):
                continue
            items.append(EmployerItem(book.id, view.holder, _position_at(book, inn), view))
        return sorted(items, key=lambda item: (item.view.next_due or date.max, item.holder))

    async def public_check_allowance(self, client: str, per_minute: int) -> float | None:
        """None while this client address may check again; else the seconds to wait."""
        return await self.public_checks.hit(
            PUBLIC_CHECK, client, limit=per_minute, window=timedelta(minutes=1)
        )

    async def _share(self, code: str) -> Share | None:
        normalised = _as_code(code)
        return None if normalised is None else await self.store.share_by_code(normalised)


def _as_code(typed: str) -> str | None:
    """The code as stored, or None when ``typed`` is not a code at all (nothing is looked up)."""
    normalised = typed.strip().upper()
    return normalised if domain.looks_like_code(normalised) else None


def _due_by(view: PublicView, until: date) -> bool:
    # A book that is not valid is due at once: the employer sends that worker first.
    return not view.valid or (view.next_due is not None and view.next_due <= until)


def _position_at(book: Book, inn: str) -> str | None:
    """The worker's position at this employer (the latest one there), else none shown."""
    here = [p for p in book.positions if p.employer_inn == inn]
    return max(here, key=lambda p: p.since).position if here else None
