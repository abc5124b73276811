"""Reading: the holder's own book and access log, an operator's view of a book's status
(never its records), and the access log every reading by someone else goes into."""

from __future__ import annotations

from emk_common.audit import AccessEntry
from emk_common.auth import PersonalData, Principal
from records.domain.book import Book
from records.service.core import NO_BOOK, Core, not_found

# An operator reads a book's status (never its records) by the platform's one policy for
# personal data: with a stated reason, logged for the holder to read.
STATUS_READING = PersonalData(
    what="к книжке",
    not_found=NO_BOOK,
    admin_refused="Администратор не просматривает медицинские книжки.",
)


class Reading(Core):
    async def own_shown(self, who: Principal) -> tuple[Book, str]:
        """The holder's book for reading (its records' lists rendered, see ``Store.shown``)."""
        found = await self.store.shown_of_holder(who.user_id)
        if found is None:
            raise not_found("Медицинская книжка ещё не выдана.")
        return found

    async def own_access_log(self, who: Principal) -> list[AccessEntry]:
        """Who read or changed the holder's book, newest first."""
        book = await self.own_book(who)
        return await self.store.access_log.of(book.id)

    async def operator_view(self, who: Principal, book_id: str, reason: str | None) -> Book:
        access = STATUS_READING.check(who, reason=reason, content=False)
        book = await self.store.get(book_id)
        if book is None:
            raise not_found()
        STATUS_READING.require_owner(access, who, book.holder_id)
        await self.log_access(book, who, "read_status", reason)
        return book
