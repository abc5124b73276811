"""Exporting: the book as a FHIR R5 ``Bundle`` (``records.fhir``) — for its holder, and for a
medical worker under the same rules as reading it (a grant of their organisation, logged for
the holder to read)."""

from __future__ import annotations

from fhir.resources.bundle import Bundle

from emk_common.auth import Principal
from records import fhir
from records.domain.book import Book
from records.service.access import Access

FHIR_READ = "read_fhir"  # the access log's action for an export by a medical worker


class Exporting(Access):
    async def own_fhir(self, who: Principal) -> Bundle:
        """The holder's own book, every record with its history."""
        return self._bundle(await self.own_book(who, records=True))

    async def granted_fhir(self, who: Principal, book_id: str, reason: str | None) -> Bundle:
        """A book open to the worker's organisation (as ``GET /books/{id}``: 403 for a worker
        not in the registry or deactivated, 404 outside a grant), logged as a reading."""
        book, _ = await self.granted_book(who, book_id, records=True)
        await self.log_access(book, who, FHIR_READ, reason)
        return self._bundle(book)

    def _bundle(self, book: Book) -> Bundle:
        documents = f"{self.settings.public_base_url.rstrip('/')}/api/v1/documents"
        return fhir.book_bundle(book, now=self.clock(), documents_url=documents)
