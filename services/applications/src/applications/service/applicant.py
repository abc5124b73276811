"""The applicant's use cases: a draft (its employer checked in ЕГРЮЛ), its documents,
submission, and the answer to a clarification. Identity and documents are asked with the
applicant's own token, at the moment it matters."""

from __future__ import annotations

import dataclasses

from applications.domain.application import Application
from applications.domain.calendar import moscow_date
from applications.domain.employer import ATTACHABLE, DraftInput, DraftValues, Employer, check_draft
from applications.domain.registry import reconcile
from applications.domain.statuses import Action
from applications.domain.vocabulary import DOCUMENT_LABELS
from applications.service.core import Core, new_id
from applications.service.problems import problems
from emk_common.auth import Principal
from emk_common.field_errors import FieldErrors
from emk_common.problems import Problem


class Applicant(Core):
    async def create(self, who: Principal, authorization: str, draft: DraftInput) -> Application:
        # Asked now, with the caller's own token: no stale projection right after the
        # personal data was saved.
        with problems():
            status = await self.upstream.account_status(authorization)
        if status != "ready":
            raise Problem.conflict(
                "Учётная запись ещё не готова к работе: подтвердите телефон и электронную "
                "почту и заполните персональные данные.",
                current_state="account_not_ready",
            )
        values = await self._checked(draft, Employer())
        application, events = Application.draft(
            new_id(), who.user_id, values,
            now=self.clock(), consent_version=self.settings.consent_text_version,
        )  # fmt: skip
        return await self.store.create(application, events)

    async def edit(self, who: Principal, application_id: str, draft: DraftInput) -> Application:
        current = await self.own(who, application_id)
        with problems():
            current.refuse_unless(Action.EDIT)
        values = await self._checked(draft, current.employer)
        now, version = self.clock(), self.settings.consent_text_version
        return await self._change(
            current, lambda a: a.edit(values, now=now, consent_version=version)
        )

    async def attach(
        self, who: Principal, authorization: str, application_id: str, document_id: str, kind: str
    ) -> Application:
        current = await self.own(who, application_id)
        with problems():
            current.refuse_unless(Action.ATTACH)  # before asking another service
        errors = FieldErrors()
        if kind not in ATTACHABLE:
            errors.add_sentence("kind", "choice",
                "Вид документа: допустимые значения — "
                + ", ".join(f"{k} ({DOCUMENT_LABELS[k]})" for k in ATTACHABLE) + ".",
            )  # fmt: skip
            errors.raise_if_any()
        with problems():
            document = await self.upstream.own_document(authorization, document_id)
        if document is None:
            message = "Документ не найден среди ваших документов."
            errors.add_sentence("document_id", "not_found", message)
        elif document.kind != kind:
            message = f"Документ загружен как «{document.kind}», а прикрепляется как «{kind}»."
            errors.add_sentence("kind", "kind_mismatch", message)
        elif document.status == "rejected":
            message = "Документ отклонён при проверке: загрузите новый и прикрепите его."
            errors.add_sentence("document_id", "rejected", message)
        errors.raise_if_any()
        assert document is not None
        now = self.clock()
        await self.store.record_document(document_id, who.user_id, document.status, now, None)
        return await self._change(current, lambda a: a.attach(kind, document_id, now=now))

    async def submit(self, who: Principal, application_id: str) -> Application:
        current = await self.own(who, application_id)
        with problems():
            current.refuse_unless(Action.SUBMIT)
        await self._require_complete(current)
        now = self.clock()
        number = await self.store.next_number(moscow_date(now).year)
        calendar = (await self.store.calendar_settings()).calendar()
        return await self._change(
            current,
            lambda a: a.submit(number=number, now=now, calendar=calendar, policy=self.policy),
        )

    async def resubmit(
        self, who: Principal, application_id: str, comment: str | None
    ) -> Application:
        current = await self.own(who, application_id)
        with problems():
            current.refuse_unless(Action.RESUBMIT)
        await self._require_complete(current)
        now = self.clock()
        return await self._change(current, lambda a: a.resubmit(comment=comment, now=now))

    async def _checked(self, draft: DraftInput, stored: Employer) -> DraftValues:
        """The valid values of ``draft``, the employer's ИНН/ОГРН checked in ЕГРЮЛ — or a 422
        naming every wrong field."""
        errors = FieldErrors()
        values = check_draft(draft, errors)
        changes = values.employer
        if changes is not None and not errors and changes.names_registrant():
            merged = stored.updated(changes)
            lookup = None
            if merged.inn and merged.ogrn:
                lookup = await self.egrul.find(merged.inn, merged.ogrn)
            checked = reconcile(merged, lookup, errors)
            # A new pair the registry does not know is no longer the checked one.
            changes = dataclasses.replace(changes, registry_checked=checked.registry_checked)
            if checked.registry_checked:
                changes = dataclasses.replace(
                    changes, name=checked.name, legal_address=checked.legal_address
                )
            values = dataclasses.replace(values, employer=changes)
        errors.raise_if_any()
        return values

    async def _require_complete(self, application: Application) -> None:
        statuses = await self.document_statuses(application)
        rejected = [
            kind
            for kind, attached in application.documents.items()
            if statuses.get(attached.document_id) == "rejected"
        ]
        errors = FieldErrors()
        application.check_complete(rejected, errors)
        errors.raise_if_any("Заявление заполнено не полностью.")
