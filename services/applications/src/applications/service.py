"""The use cases: what a citizen and an operator may do with an application, what the
records service and the documents service tell it.

Each change is decided by the pure domain (``domain/application.py``) on the stored version
and written conditionally on it; when someone else changed the application meanwhile, the
decision is taken again on what they left (so of two operators taking at once, one wins and
the other is told it is taken: 409). Domain errors become problems here, and only here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from applications.domain.application import (
    Actor,
    Application,
    Change,
    DocumentsNotVerifiedError,
    HeldByAnotherError,
    Summary,
    reject_unknown_paths,
)
from applications.domain.calendar import (
    CalendarSettings,
    DeadlinePolicy,
    Override,
    calendar_settings,
    moscow_date,
)
from applications.domain.employer import ATTACHABLE, DraftInput, DraftValues, Employer, check_draft
from applications.domain.queue import lane_for
from applications.domain.registry import reconcile
from applications.domain.statuses import OPEN, Action, Status, TransitionNotAllowedError
from applications.domain.vocabulary import DOCUMENT_LABELS
from applications.ports import Egrul, PeerUnavailableError, SignedOutError, Upstream
from applications.settings import ApplicationsSettings
from applications.store import ApplicationStore
from emk_common.auth import Access, PersonalData, Principal
from emk_common.clock import Clock
from emk_common.field_errors import FieldErrors
from emk_common.kafka import DeadLetter, RetryLater
from emk_common.problems import Problem

_NOT_FOUND = "Заявление не найдено."
POLICY = PersonalData(
    what="к заявлению",
    not_found=_NOT_FOUND,
    admin_refused="Администратор не просматривает заявления граждан.",
)
_PEERS = {"identity": "Сервис учётных записей", "documents": "Сервис документов"}
# An application id, or a queue key ``due date|id`` (see domain/queue.py).
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}\|)?[0-9a-f]{32}")


def new_id() -> str:
    """Ids that sort by creation time, so «Мои обращения» pages by ``_id``. The wall clock's
    nanoseconds order them even when a test's clock stands still: an id, not a "now"."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def actor_of(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, role=principal.role)


def not_found() -> Problem:
    return Problem.not_found(_NOT_FOUND)


@contextlib.contextmanager
def problems() -> Iterator[None]:
    """The domain's and the ports' refusals, as the API answers them."""
    try:
        yield
    except TransitionNotAllowedError as refused:
        raise Problem.conflict(refused.message, current_state=str(refused.current)) from None
    except HeldByAnotherError as held:
        raise Problem.conflict(
            "Заявление в работе у другого оператора.", current_state=str(held.status)
        ) from None
    except DocumentsNotVerifiedError as waiting:
        raise Problem.conflict(
            "Одобрить можно, только когда все прикреплённые документы подтверждены. "
            "Не подтверждены: " + ", ".join(DOCUMENT_LABELS[k] for k in waiting.kinds) + ".",
            current_state="documents_not_verified",
        ) from None
    except SignedOutError:
        raise Problem(401, code="unauthorized", detail="Войдите в систему заново.") from None
    except PeerUnavailableError as down:
        raise Problem.unavailable(
            f"{_PEERS[down.peer]} временно недоступен, изменения не сохранены. Попробуйте позже.",
            retry_after_seconds=10,
        ) from None


@dataclass(frozen=True)
class Page:
    items: list[Summary]
    total: int
    next_cursor: str | None


class Applications:
    def __init__(
        self,
        store: ApplicationStore,
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

    # --- the applicant ---------------------------------------------------------------------

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

    # --- the operator ------------------------------------------------------------------------

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

    # --- reading -----------------------------------------------------------------------------

    async def own(self, who: Principal, application_id: str) -> Application:
        application = await self.store.get(application_id)
        if application is None or application.applicant_id != who.user_id:
            raise not_found()
        return application

    async def visible(self, who: Principal, application_id: str, reason: str | None) -> Application:
        access = POLICY.check(who, reason=reason)
        if access is Access.OWNER:
            return await self.own(who, application_id)
        application = await self._existing(application_id)
        assert reason is not None  # the policy asks staff for one
        await self.store.log_read(application, actor_of(who), reason, self.clock())
        return application

    async def document_statuses(self, application: Application) -> dict[str, str]:
        """The review status of each attached document, by document id."""
        return await self.store.document_statuses_of(
            d.document_id for d in application.documents.values()
        )

    async def listing(
        self,
        who: Principal,
        *,
        status: Status | None,
        overdue: bool | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        """A page of «Мои обращения» (a citizen's own, newest first) or of the operators' queue
        (oldest due first), with the total from counters and the cursor of the next page."""
        after = _decode(cursor)
        errors = FieldErrors()
        if who.role == "citizen":
            if status is not None or overdue is not None:
                message = "Фильтры доступны только в очереди оператора."
                errors.add_sentence("status", "not_allowed", message)
                errors.raise_if_any()
            rows = await self.store.own_page(who.user_id, after, limit + 1)
            total = await self.store.total(f"applicant:{who.user_id}")
            next_key = rows[limit - 1].id if len(rows) > limit else None
        elif who.role == "operator":
            if status is Status.DRAFT:
                message = "Черновики не попадают в очередь оператора."
                errors.add_sentence("status", "choice", message)
            elif overdue is not None and status is not None and status not in OPEN:
                message = "Просрочка считается только у заявлений в работе."
                errors.add_sentence("overdue", "not_allowed", message)
            errors.raise_if_any()
            lane = lane_for(status, overdue)
            rows = await self.store.queue_page(lane, after, limit + 1)
            total = await self.store.total(lane)
            next_key = rows[limit - 1].queue_key if len(rows) > limit else None
        else:
            raise Problem.forbidden("Список заявлений доступен заявителю и операторам.")
        return Page(rows[:limit], total, _encode(next_key) if next_key else None)

    # --- the production calendar an admin keeps ------------------------------------------------

    async def calendar_settings(self) -> CalendarSettings:
        return await self.store.calendar_settings()

    async def replace_calendar(
        self, who: Principal, peak_periods: Sequence[tuple[date, date]], overrides: list[Override]
    ) -> CalendarSettings:
        settings = calendar_settings(peak_periods, overrides, FieldErrors())
        await self.store.save_calendar(settings, actor_of(who), self.clock())
        return await self.store.calendar_settings()

    # --- helpers -----------------------------------------------------------------------------

    async def _existing(self, application_id: str) -> Application:
        application = await self.store.get(application_id)
        if application is None or application.status is Status.DRAFT:
            raise not_found()  # a draft is the applicant's own business
        return application

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


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        if _CURSOR.fullmatch(key) is not None:
            return key
    except (binascii.Error, ValueError):
        pass
    errors = FieldErrors()
    errors.add_sentence("cursor", "invalid", "Неверный курсор страницы: начните список с начала.")
    errors.raise_if_any()
    return None
