"""The use cases: what a citizen and an operator may do with an application, what the
records service and the documents service tell it. One entry class, grouped by who acts: the
applicant (``applicant.py``), the operator (``operator.py``), reading and lists
(``reading.py``), over what they share (``core.py``).

Each change is decided by the pure domain (``domain/application.py``) on the stored version
and written conditionally on it; when someone else changed the application meanwhile, the
decision is taken again on what they left (so of two operators taking at once, one wins and
the other is told it is taken: 409). Domain errors become problems in ``problems.py``, and
only there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from applications.domain.application import Application
from applications.domain.calendar import CalendarSettings, Override, calendar_settings
from applications.domain.statuses import Status
from applications.service.applicant import Applicant
from applications.service.core import actor_of
from applications.service.operator import Operator
from applications.service.problems import no_comment
from applications.service.reading import Page, Reading
from emk_common.auth import Principal
from emk_common.field_errors import FieldErrors
from emk_common.kafka import DeadLetter, RetryLater

__all__ = ["Applications", "Page"]


class Applications(Applicant, Operator, Reading):
    # --- the records and documents services ----------------------------------------------------

    async def issue(self, application_id: str, book_id: str, book_number: str) -> None:
        """The book was issued on this application: «Готово к выдаче». A repeat finds the
        application issued already and changes nothing."""
        for _ in range(5):
            application = await self.store.get(application_id)
            if application is None:
                raise DeadLetter(f"application {application_id} is unknown")
            if application.status is Status.ISSUED:
                return
            change = application.issue(book_id=book_id, book_number=book_number, now=self.clock())
            if await self.store.apply(application, change) is not None:
                return
        raise RetryLater(f"application {application_id} kept changing")

    async def document_reviewed(
        self,
        document_id: str,
        owner_id: str,
        status: str,
        at: datetime,
        session: AsyncClientSession,
    ) -> None:
        """The documents service's word on a document: approval waits for ``verified``."""
        await self.store.record_document(document_id, owner_id, status, at, session)

    async def employment(self, application_id: str) -> Application:
        """What the records service puts in a book: the employer and the position."""
        return await self._existing(application_id)

    async def change_comment(self, application_id: str, seq: int) -> tuple[Status, str]:
        """The comment of the change at ``seq`` of the application's history (a status
        change's, a rejection's reason): the free text its events only say exists. 404 for an
        unknown application or change, and for a change without a comment."""
        application = await self._existing(application_id)
        entry = application.history[seq] if 0 <= seq < len(application.history) else None
        if entry is None or not (entry.comment and entry.comment.strip()):
            raise no_comment()
        return entry.status, entry.comment

    # --- the production calendar an admin keeps ------------------------------------------------

    async def calendar_settings(self) -> CalendarSettings:
        return await self.store.calendar_settings()

    async def replace_calendar(
        self, who: Principal, peak_periods: Sequence[tuple[date, date]], overrides: list[Override]
    ) -> CalendarSettings:
        settings = calendar_settings(peak_periods, overrides, FieldErrors())
        await self.store.save_calendar(settings, actor_of(who), self.clock())
        return await self.store.calendar_settings()
