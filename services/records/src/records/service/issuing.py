"""Issuing: a book for an approved application (or a position added to the holder's book),
the holder's data as identity tells of it, and a medical worker's account closed."""

from __future__ import annotations

import logging
from datetime import datetime

from emk_common import catalog
from emk_common.kafka import RetryLater
from records.domain import book as domain
from records.domain.book import Position
from records.domain.dates import moscow_date
from records.ports import HolderHasBookError
from records.service.core import Core, new_id, peer

log = logging.getLogger(__name__)


class Issuing(Core):
    async def issue(self, approved: catalog.ApplicationApproved) -> None:
        """A book for the applicant of an approved application — or, when they have one, a
        position added to it. Safe to repeat: a second delivery changes nothing."""
        now = self.clock()
        today = moscow_date(now)
        employment = await peer(self.employments.employment(approved.application_id))
        position = Position(
            application_id=approved.application_id,
            employer_name=employment.employer_name,
            employer_inn=employment.employer_inn,
            position=employment.position,
            department=employment.department,
            since=today,
        )
        existing = await self.store.of_holder(approved.applicant_id)
        if existing is not None:
            await self.change(existing, lambda book: domain.add_position(book, position))
            return
        data = await peer(self.people.holder(approved.applicant_id))
        sequence = await self.store.next_sequence(data.region_code, today.year)
        number = domain.format_number(
            data.region_code, self.settings.issuing_point, sequence, today.year
        )
        book, events = domain.issue(
            book_id=new_id(), holder_id=approved.applicant_id, number=number,
            holder=data.holder, position=position, now=now, today=today,
        )  # fmt: skip
        try:
            await self.store.insert(book, events, today)
        except HolderHasBookError:
            # Another approval of this person issued their book meanwhile: next time round
            # this one finds it and adds its position.
            raise RetryLater("a book for this holder was issued meanwhile") from None
        log.info("book issued", extra={"book_id": book.id})

    async def refresh_holder(self, user_id: str) -> None:
        """Identity says the person's data changed: the book shows it from now on."""
        for _ in range(5):
            book = await self.store.of_holder(user_id)
            if book is None:
                return
            data = await peer(self.people.holder(user_id))
            if data.holder == book.holder or await self.store.refresh_holder(book, data.holder):
                return
        raise RetryLater("the book kept changing")

    async def worker_deactivated(self, worker_id: str, at: datetime) -> None:
        """Their keys are revoked (what they signed stays verifiable) and the grants their
        lookups opened end now."""
        await self.store.deactivate_worker(worker_id, at)
        await self.store.revoke_keys_of(worker_id, "deactivation", self.clock())
        for book in await self.store.granted_by(worker_id):
            ids = [g.id for g in book.grants if g.granted_by == worker_id]
            await self.change(book, self.ending(ids, "deactivation"))
