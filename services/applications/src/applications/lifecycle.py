"""The use cases: what a citizen and an operator may do with an application.

Each change is decided by the pure domain (``domain/application.py``) on the stored
version and written conditionally on it; when someone else changed the application
meanwhile, the decision is taken again on what they left (so of two operators taking
at once, one wins and the other is told it is taken: 409).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from applications.adapters.egrul import Egrul, reconcile
from applications.adapters.upstream import Upstream
from applications.domain import application as domain
from applications.domain.application import Actor, Step
from applications.domain.calendar import DeadlinePolicy, moscow_date
from applications.domain.employer import (
    DOCUMENT_LABELS,
    FIELD_LABELS,
    OPTIONAL_DOCUMENTS,
    REQUIRED_DOCUMENTS,
    DraftIn,
    check_draft,
    missing_for_submission,
)
from applications.domain.statuses import (
    Action,
    Status,
    TransitionNotAllowedError,
    next_status,
)
from applications.settings import ApplicationsSettings
from applications.store import ApplicationStore, Doc, history_entry
from emk_common import catalog
from emk_common.auth import Principal
from emk_common.clock import Clock
from emk_common.crypto import FieldCipher
from emk_common.kafka import DeadLetter, RetryLater
from emk_common.problems import FieldError, Problem

ATTACHABLE = (*REQUIRED_DOCUMENTS, *OPTIONAL_DOCUMENTS)


def new_id() -> str:
    """Ids that sort by creation time, so «Мои обращения» pages by ``_id``."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def actor_of(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, role=principal.role)


def not_found() -> Problem:
    return Problem.not_found("Заявление не найдено.")


class Applications:
    def __init__(
        self,
        store: ApplicationStore,
        settings: ApplicationsSettings,
        upstream: Upstream,
        egrul: Egrul,
        cipher: FieldCipher,
        clock: Clock,
    ) -> None:
        self.store = store
        self.settings = settings
        self.upstream = upstream
        self.egrul = egrul
        self.cipher = cipher
        self.clock = clock
        self.policy = DeadlinePolicy(
            review_days=settings.review_days,
            clarification_review_days=settings.clarification_review_days,
            peak_review_days=settings.peak_review_days,
            answer_days=settings.answer_days,
        )

    # --- the applicant ---------------------------------------------------------------------

    async def create(self, who: Principal, authorization: str, body: DraftIn) -> Doc:
        # Asked now, with the caller's own token: no stale projection right after the
        # personal data was saved.
        if await self.upstream.account_status(authorization) != "ready":
            raise Problem.conflict(
                "Учётная запись ещё не готова к работе: подтвердите телефон и электронную "
                "почту и заполните персональные данные.",
                current_state="account_not_ready",
            )
        values = await self._checked(body, {})
        now, application_id = self.clock(), new_id()
        actor = actor_of(who)
        application: Doc = {
            "_id": application_id,
            "applicant_id": who.user_id,
            "status": str(Status.DRAFT),
            "number": None,
            "employer": values.get("employer", {}),
            "oms_policy": None,
            "consent": None,
            "documents": {},
            "history": [history_entry(Status.DRAFT, actor, now, "Черновик создан")],
            "created_at": now,
            "last_changed_at": now,
        }
        application.update(self._sealed_fields(application_id, values, now))
        drafted = catalog.ApplicationDrafted(
            application_id=application_id, applicant_id=who.user_id
        )
        return await self.store.create(application, [drafted])

    async def edit(self, who: Principal, application_id: str, body: DraftIn) -> Doc:
        current = await self.own(who, application_id)
        _refuse_unless(current, Action.EDIT)
        values = await self._checked(body, current.get("employer") or {})
        changed = sorted(
            [f"employer.{k}" for k in values.get("employer", {}) if k != "registry_checked"]
            + [k for k in ("oms_policy", "consent_personal_data") if k in values]
        )

        def decide(application: Doc) -> Step:
            step = domain.edit(application, "Изменены данные: " + _labels(changed))
            employer = {**(application.get("employer") or {}), **values.get("employer", {})}
            step.set = {"employer": employer}
            step.set.update(self._sealed_fields(application["_id"], values, self.clock()))
            return step

        return await self._change(current, who, decide)

    async def attach(
        self, who: Principal, authorization: str, application_id: str, document_id: str, kind: str
    ) -> Doc:
        current = await self.own(who, application_id)
        _refuse_unless(current, Action.ATTACH)  # before asking another service
        if kind not in ATTACHABLE:
            raise Problem.validation(
                [
                    FieldError(
                        field="kind",
                        code="choice",
                        message="Вид документа: допустимые значения — "
                        + ", ".join(f"{k} ({DOCUMENT_LABELS[k]})" for k in ATTACHABLE)
                        + ".",
                    )
                ]
            )
        document = await self.upstream.own_document(authorization, document_id)
        if document is None:
            raise Problem.validation(
                [_error("document_id", "not_found", "Документ не найден среди ваших документов.")]
            )
        if document.kind != kind:
            raise Problem.validation(
                [
                    _error(
                        "kind",
                        "kind_mismatch",
                        f"Документ загружен как «{document.kind}», а прикрепляется как «{kind}».",
                    )
                ]
            )
        if document.status == "rejected":
            raise Problem.validation(
                [
                    _error(
                        "document_id",
                        "rejected",
                        "Документ отклонён при проверке: загрузите новый и прикрепите его.",
                    )
                ]
            )
        now = self.clock()
        await self.store.record_document(document_id, who.user_id, document.status, now, None)

        def decide(application: Doc) -> Step:
            step = domain.edit(application, f"Прикреплён документ: {DOCUMENT_LABELS[kind]}")
            step.set = {f"documents.{kind}": {"document_id": document_id, "attached_at": now}}
            return step

        return await self._change(current, who, decide)

    async def submit(self, who: Principal, application_id: str) -> Doc:
        current = await self.own(who, application_id)
        _refuse_unless(current, Action.SUBMIT)
        await self._require_complete(current)
        now = self.clock()
        number = await self.store.next_number(moscow_date(now).year)
        calendar = await self.store.calendar()
        return await self._change(
            current,
            who,
            lambda a: domain.submit(
                a, number=number, now=now, calendar=calendar, policy=self.policy
            ),
        )

    async def resubmit(self, who: Principal, application_id: str, comment: str | None) -> Doc:
        current = await self.own(who, application_id)
        _refuse_unless(current, Action.RESUBMIT)
        await self._require_complete(current)
        now = self.clock()
        return await self._change(
            current, who, lambda a: domain.resubmit(a, comment=comment, now=now)
        )

    # --- the operator ------------------------------------------------------------------------

    async def take(self, who: Principal, application_id: str) -> Doc:
        current = await self._existing(application_id)
        return await self._change(current, who, lambda a: domain.take(a, actor_of(who)))

    async def request_clarification(
        self,
        who: Principal,
        application_id: str,
        comment: str,
        fields: list[str],
        documents: list[str],
    ) -> Doc:
        errors = [
            _error(f"fields.{i}", "choice", f"Неизвестное поле заявления: «{f}».")
            for i, f in enumerate(fields)
            if f not in FIELD_LABELS
        ] + [
            _error(f"documents.{i}", "choice", f"Неизвестный вид документа: «{d}».")
            for i, d in enumerate(documents)
            if d not in DOCUMENT_LABELS
        ]
        if errors:
            raise Problem.validation(errors)
        current = await self._existing(application_id)
        now = self.clock()
        calendar = await self.store.calendar()

        def decide(application: Doc) -> Step:
            self._require_assignee(application, who)
            return domain.request_clarification(
                application, actor_of(who), comment=comment, fields=fields,
                documents=documents, now=now, calendar=calendar, policy=self.policy,
            )  # fmt: skip

        return await self._change(current, who, decide)

    async def approve(self, who: Principal, application_id: str) -> Doc:
        current = await self._existing(application_id)
        attached = {k: v["document_id"] for k, v in (current.get("documents") or {}).items()}
        statuses = await self.store.document_statuses_of(attached.values())
        unverified = [k for k, d in attached.items() if statuses.get(d) != "verified"]

        def decide(application: Doc) -> Step:
            self._require_assignee(application, who)
            step = domain.approve(application, actor_of(who))
            if unverified:
                raise Problem.conflict(
                    "Одобрить можно, только когда все прикреплённые документы подтверждены. "
                    "Не подтверждены: " + ", ".join(DOCUMENT_LABELS[k] for k in unverified) + ".",
                    current_state="documents_not_verified",
                )
            return step

        return await self._change(current, who, decide)

    async def reject(
        self, who: Principal, application_id: str, reason: str, fields: list[str]
    ) -> Doc:
        unknown = [
            _error(f"fields.{i}", "choice", f"Неизвестное поле заявления: «{f}».")
            for i, f in enumerate(fields)
            if f not in FIELD_LABELS and f not in {f"documents.{d}" for d in DOCUMENT_LABELS}
        ]
        if unknown:
            raise Problem.validation(unknown)
        current = await self._existing(application_id)

        def decide(application: Doc) -> Step:
            self._require_assignee(application, who)
            return domain.reject(application, actor_of(who), reason=reason, fields=fields)

        return await self._change(current, who, decide)

    # --- the records service -----------------------------------------------------------------

    async def issue(self, application_id: str, book_id: str, book_number: str) -> None:
        """The book was issued on this application: «Готово к выдаче». A repeat finds the
        application issued already and changes nothing."""
        for _ in range(5):
            application = await self.store.get(application_id)
            if application is None:
                raise DeadLetter(f"application {application_id} is unknown")
            if application["status"] == Status.ISSUED:
                return
            step = domain.issue(application, book_id=book_id, book_number=book_number)
            if await self.store.apply(application, step, domain.SYSTEM, self.clock()) is not None:
                return
        raise RetryLater(f"application {application_id} kept changing")

    async def employment(self, application_id: str) -> Doc:
        """What the records service puts in a book: the employer and the position."""
        application = await self._existing(application_id)
        employer = application.get("employer") or {}
        return {
            "application_id": application["_id"],
            "applicant_id": application["applicant_id"],
            "status": application["status"],
            "employer_name": employer.get("name"),
            "employer_inn": employer.get("inn"),
            "department": employer.get("department"),
            "position": employer.get("position"),
        }

    # --- reading -----------------------------------------------------------------------------

    async def own(self, who: Principal, application_id: str) -> Doc:
        application = await self.store.get(application_id)
        if application is None or application["applicant_id"] != who.user_id:
            raise not_found()
        return application

    async def visible(self, who: Principal, application_id: str, reason: str | None) -> Doc:
        if who.role == "citizen":
            return await self.own(who, application_id)
        if who.role == "admin":
            raise Problem.forbidden("Администратор не просматривает заявления граждан.")
        if who.role != "operator":
            raise not_found()
        if not reason:
            raise Problem.validation(
                [
                    _error(
                        "X-Access-Reason",
                        "missing",
                        "Укажите цель доступа к заявлению в заголовке X-Access-Reason.",
                    )
                ]
            )
        application = await self._existing(application_id)
        await self.store.access_log.record(
            application["_id"], application["applicant_id"],
            actor_id=who.user_id, actor_role=who.role, action="read", reason=reason,
            at=self.clock(),
        )  # fmt: skip
        return application

    def oms_policy(self, application: Doc) -> str | None:
        sealed = application.get("oms_policy")
        if not sealed:
            return None
        return self.cipher.decrypt(sealed, context=_oms_context(application["_id"]))

    # --- helpers -----------------------------------------------------------------------------

    async def _existing(self, application_id: str) -> Doc:
        application = await self.store.get(application_id)
        if application is None or application["status"] == Status.DRAFT:
            raise not_found()  # a draft is the applicant's own business
        return application

    async def _checked(self, body: DraftIn, stored_employer: dict[str, Any]) -> dict[str, Any]:
        values, errors = check_draft(body)
        employer = values.get("employer")
        if employer and not errors and ({"inn", "ogrn"} & employer.keys()):
            merged = {**stored_employer, **employer}
            errors += await reconcile(merged, self.egrul)
            # A new pair the registry does not know is no longer the checked one.
            employer["registry_checked"] = bool(merged.get("registry_checked"))
            if employer["registry_checked"]:
                employer.update({k: merged[k] for k in ("name", "legal_address")})
        if errors:
            raise Problem.validation(errors)
        return values

    def _sealed_fields(self, application_id: str, values: dict[str, Any], now: datetime) -> Doc:
        fields: Doc = {}
        if values.get("oms_policy"):
            fields["oms_policy"] = self.cipher.encrypt(
                values["oms_policy"], context=_oms_context(application_id)
            )
        if "consent_personal_data" in values:
            fields["consent"] = (
                {"given_at": now, "text_version": self.settings.consent_text_version}
                if values["consent_personal_data"]
                else None
            )
        return fields

    async def _require_complete(self, application: Doc) -> None:
        errors = missing_for_submission(application)
        attached = {k: v["document_id"] for k, v in (application.get("documents") or {}).items()}
        statuses = await self.store.document_statuses_of(attached.values())
        errors += [
            _error(
                f"documents.{kind}",
                "rejected",
                f"{DOCUMENT_LABELS[kind]}: документ отклонён при проверке, "
                "загрузите новый и прикрепите его.",
            )
            for kind, document_id in attached.items()
            if statuses.get(document_id) == "rejected"
        ]
        if errors:
            raise Problem.validation(errors, detail="Заявление заполнено не полностью.")

    @staticmethod
    def _require_assignee(application: Doc, who: Principal) -> None:
        assignee = application.get("assignee_id")
        if assignee is not None and assignee != who.user_id:
            raise Problem.conflict(
                "Заявление в работе у другого оператора.", current_state=application["status"]
            )

    async def _change(self, application: Doc, who: Principal, decide: Callable[[Doc], Step]) -> Doc:
        actor = actor_of(who)
        for _ in range(5):
            try:
                step = decide(application)
            except TransitionNotAllowedError as refused:
                raise _conflict(refused) from None
            written = await self.store.apply(application, step, actor, self.clock())
            if written is not None:
                return written
            reread = await self.store.get(application["_id"])
            if reread is None:
                raise not_found()
            application = reread
        raise Problem.conflict("Заявление сейчас изменяется другим действием. Повторите попытку.")


def _conflict(refused: TransitionNotAllowedError) -> Problem:
    return Problem.conflict(refused.message, current_state=str(refused.current))


def _refuse_unless(application: Doc, action: Action) -> None:
    """409 for a step the current status does not allow, before any other check."""
    try:
        next_status(Status(application["status"]), action)
    except TransitionNotAllowedError as refused:
        raise _conflict(refused) from None


def _oms_context(application_id: str) -> str:
    return f"applications:{application_id}:oms_policy"


def _error(field: str, code: str, message: str) -> FieldError:
    return FieldError(field=field, code=code, message=message)


def _labels(paths: list[str]) -> str:
    return ", ".join(FIELD_LABELS.get(p, p) for p in paths) or "—"
