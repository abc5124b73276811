"""What every use case of the applications service shares: the store, the ports, the clock,
the deadline policy; finding an application as its applicant or as staff; and the write of a
decision, taken again on what another writer left when the version moved on meanwhile."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from applications.domain.application import Application, Change
from applications.domain.calendar import DeadlinePolicy
from applications.domain.parts import Actor
from applications.domain.statuses import Status
from applications.ports import Egrul, Store, Upstream
from applications.service.problems import not_found, problems
from applications.settings import ApplicationsSettings
from emk_common.auth import Principal
from emk_common.clock import Clock
from emk_common.problems import Problem


def new_id() -> str:
    """Ids that sort by creation time, so «Мои обращения» pages by ``_id``. The wall clock's
    nanoseconds order them even when a test's clock stands still: an id, not a "now"."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def actor_of(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, role=principal.role)


class Core:
    def __init__(
        self,
        store: Store,
        settings: ApplicationsSettings,
        *,
        upstream: Upstream,
        egrul: Egrul,
        clock: Clock,
    ) -> None:
        self.store = store
        self.settings = settings
        self.upstream = upstream
        self.egrul = egrul
        self.clock = clock
        self.policy = DeadlinePolicy(
            review_days=settings.review_days,
            clarification_review_days=settings.clarification_review_days,
            peak_review_days=settings.peak_review_days,
            answer_days=settings.answer_days,
        )

    async def own(self, who: Principal, application_id: str) -> Application:
        """The caller's own application; anyone else's does not exist for them (404)."""
        application = await self.store.get(application_id)
        if application is None or application.applicant_id != who.user_id:
            raise not_found()
        return application

    async def document_statuses(self, application: Application) -> dict[str, str]:
        """The review status of each attached document, by document id."""
        return await self.store.document_statuses_of(
            d.document_id for d in application.documents.values()
        )

    async def _existing(self, application_id: str) -> Application:
        application = await self.store.get(application_id)
        if application is None or application.status is Status.DRAFT:
            raise not_found()  # a draft is the applicant's own business
        return application

    async def _change(
        self, application: Application, decide: Callable[[Application], Change]
    ) -> Application:
        for _ in range(5):
            with problems():
                change = decide(application)
            written = await self.store.apply(application, change)
            if written is not None:
                return written
            reread = await self.store.get(application.id)
            if reread is None:
                raise not_found()
            application = reread
        raise Problem.conflict("Заявление сейчас изменяется другим действием. Повторите попытку.")
