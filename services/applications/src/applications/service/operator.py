"""The operator's use cases: taking an application, asking for a clarification, approving,
rejecting. Each decision is taken on the stored version and is the assignee's alone."""

from __future__ import annotations

from applications.domain.application import Application, Change
from applications.domain.parts import reject_unknown_paths
from applications.service.core import Core, actor_of
from emk_common.auth import Principal
from emk_common.field_errors import FieldErrors


class Operator(Core):
    async def take(self, who: Principal, application_id: str) -> Application:
        current = await self._existing(application_id)
        now = self.clock()
        return await self._change(current, lambda a: a.take(actor_of(who), now=now))

    async def request_clarification(
        self,
        who: Principal,
        application_id: str,
        comment: str,
        fields: list[str],
        documents: list[str],
    ) -> Application:
        errors = FieldErrors()
        reject_unknown_paths(errors, fields, documents, rejection=False)
        errors.raise_if_any()
        current = await self._existing(application_id)
        now, operator = self.clock(), actor_of(who)
        calendar = (await self.store.calendar_settings()).calendar()

        def decide(application: Application) -> Change:
            application.require_assignee(operator)
            return application.request_clarification(
                operator, comment=comment, fields=fields, documents=documents, now=now,
                calendar=calendar, policy=self.policy,
            )  # fmt: skip

        return await self._change(current, decide)

    async def approve(self, who: Principal, application_id: str) -> Application:
        current = await self._existing(application_id)
        statuses = await self.document_statuses(current)
        unverified = [
            kind
            for kind, attached in current.documents.items()
            if statuses.get(attached.document_id) != "verified"
        ]
        now, operator = self.clock(), actor_of(who)

        def decide(application: Application) -> Change:
            application.require_assignee(operator)
            return application.approve(operator, now=now, unverified=unverified)

        return await self._change(current, decide)

    async def reject(
        self, who: Principal, application_id: str, reason: str, fields: list[str]
    ) -> Application:
        errors = FieldErrors()
        reject_unknown_paths(errors, fields, rejection=True)
        errors.raise_if_any()
        current = await self._existing(application_id)
        now, operator = self.clock(), actor_of(who)

        def decide(application: Application) -> Change:
            application.require_assignee(operator)
            return application.reject(operator, reason=reason, fields=fields, now=now)

        return await self._change(current, decide)
