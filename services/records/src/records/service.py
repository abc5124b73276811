"""The use cases of the records service: load the book, decide with the domain, write the
change conditionally on the version it was decided on, call the ports.

Access (DOMAIN.md, API.md): the holder sees their own book; a medical worker sees a book
only while a lookup (СНИЛС and number, or a visit code) has opened it to their organisation;
an operator sees its status and due dates with a stated reason; nobody else sees anything.
Whatever is not yours is a 404, what your role may not do a 403. Every access by someone
other than the holder goes into the access log the holder reads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import rfc8785

from emk_common import catalog
from emk_common.auth import PersonalData, Principal
from emk_common.clock import Clock
from emk_common.field_errors import FieldErrors
from emk_common.kafka import DeadLetter, RetryLater
from emk_common.problems import FieldError, Problem
from records.domain import book as domain
from records.domain.book import Author, Book, Change, DuplicateRecordError, Organization, Position
from records.domain.dates import moscow_date
from records.domain.records import check_record
from records.ports import (
    Employments,
    MedicalOrganisation,
    MedicalOrganisations,
    PeerRefusedError,
    PeerUnavailableError,
    People,
    SignatureScheme,
)
from records.settings import RecordsSettings
from records.store import BookStore, DuplicateKeyError

log = logging.getLogger(__name__)
T = TypeVar("T")

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_NO_BOOK = "Медицинская книжка не найдена."
_FAILED_LOOKUPS = "failed-lookups"


# An operator reads a book's status (never its records) by the platform's one policy for
# personal data: with a stated reason, logged for the holder to read.
STATUS_READING = PersonalData(
    what="к книжке",
    not_found=_NO_BOOK,
    admin_refused="Администратор не просматривает медицинские книжки.",
)


def new_id() -> str:
    return uuid.uuid4().hex


def not_found(detail: str = _NO_BOOK) -> Problem:
    return Problem.not_found(detail)


def _unb64(value: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


class Records:
    def __init__(
        self,
        store: BookStore,
        settings: RecordsSettings,
        *,
        people: People,
        employments: Employments,
        organisations: MedicalOrganisations,
        scheme: SignatureScheme,
        clock: Clock,
    ) -> None:
        self.store = store
        self.settings = settings
        self.people = people
        self.employments = employments
        self.organisations = organisations
        self.scheme = scheme
        self.clock = clock

    # --- issuing ------------------------------------------------------------------------

    async def issue(self, approved: catalog.ApplicationApproved) -> None:
        """A book for the applicant of an approved application — or, when they have one, a
        position added to it. Safe to repeat: a second delivery changes nothing."""
        now = self.clock()
        today = moscow_date(now)
        employment = await _peer(self.employments.employment(approved.application_id))
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
            await self._change(existing, lambda book: domain.add_position(book, position))
            return
        data = await _peer(self.people.holder(approved.applicant_id))
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
        except DuplicateKeyError:
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
            data = await _peer(self.people.holder(user_id))
            if data.holder == book.holder or await self.store.refresh_holder(book, data.holder):
                return
        raise RetryLater("the book kept changing")

    # --- medical workers as identity tells of them ----------------------------------------

    async def worker_deactivated(self, worker_id: str, at: datetime) -> None:
        """Their keys are revoked (what they signed stays verifiable) and the grants their
        lookups opened end now."""
        await self.store.deactivate_worker(worker_id, at)
        await self.store.revoke_keys_of(worker_id, "deactivation", self.clock())
        for book in await self.store.granted_by(worker_id):
            ids = [g.id for g in book.grants if g.granted_by == worker_id]
            await self._change(book, self._ending(ids, "deactivation"))

    # --- the holder ----------------------------------------------------------------------------

    async def own_book(self, who: Principal, *, records: bool = False) -> Book:
        book = await self.store.of_holder(who.user_id, records=records)
        if book is None:
            raise not_found("Медицинская книжка ещё не выдана.")
        return book

    async def own_shown(self, who: Principal) -> tuple[Book, str]:
        """The holder's book for reading (its records' lists rendered, see ``store.shown``)."""
        found = await self.store.shown({"holder_id": who.user_id})
        if found is None:
            raise not_found("Медицинская книжка ещё не выдана.")
        return found

    async def visit_code(self, who: Principal) -> dict[str, Any]:
        """A single-use code the holder shows a medical worker (opens the book for 30 days)."""
        book = await self.own_book(who)
        now = self.clock()
        code = "".join(secrets.choice(_BASE32) for _ in range(self.settings.visit_code_length))
        expires_at = now + timedelta(hours=self.settings.visit_code_hours)
        await self.store.add_visit_code(code, book.id, now, expires_at)
        return {"code": code, "expires_at": expires_at}

    def _ending(self, grant_ids: list[str], by: str) -> Callable[[Book], Change | None]:
        return lambda book: domain.end_grants(book, grant_ids, by=by, now=self.clock())

    async def end_grant(self, who: Principal, grant_id: str) -> None:
        book = await self.own_book(who)
        if not any(g.id == grant_id for g in book.grants):
            raise not_found("Доступ не найден.")
        await self._change(book, self._ending([grant_id], who.user_id), busy=_busy)

    # --- medical workers -------------------------------------------------------------------------

    async def worker_organisation(self, who: Principal) -> MedicalOrganisation:
        """The medical worker's organisation from the registry; 403 for anyone else."""
        if who.role != "medical_worker":
            raise Problem.forbidden("Действие доступно только медицинским работникам.")
        if await self.store.is_deactivated(who.user_id):
            raise Problem.forbidden("Учётная запись сотрудника отключена.")
        organisation = self.organisations.get(who.organization_id or "")
        if organisation is None:
            raise Problem.forbidden(
                "Организация сотрудника не найдена в реестре медицинских организаций."
            )
        return organisation

    async def lookup(
        self, who: Principal, *, snils: str | None, number: str | None, visit_code: str | None
    ) -> Book:
        """Find a book by what the person presents; it opens to the worker's organisation."""
        organisation = await self.worker_organisation(who)
        now = self.clock()
        window = timedelta(minutes=self.settings.lookup_failure_window_minutes)
        # Counted before the lookup (and given back when it finds the book), so lookups sent
        # at once cannot all pass a check made before any of them was counted.
        wait = await self.store.limits.hit(
            _FAILED_LOOKUPS, who.user_id, limit=self.settings.lookup_failures_per_window,
            window=window,
        )  # fmt: skip
        if wait is not None:
            raise Problem.rate_limited(wait)
        book: Book | None
        if visit_code is not None:
            book_id = await self.store.use_visit_code(visit_code.upper(), now)
            book = await self.store.get(book_id) if book_id else None
        else:
            book = await self.store.by_identifiers(number or "", snils or "")
        if book is None:
            raise not_found(
                "Медицинская книжка не найдена: проверьте СНИЛС и номер книжки или код визита."
            )
        await self.store.limits.forgive(_FAILED_LOOKUPS, who.user_id, window=window)
        via: domain.GrantVia = "visit_code" if visit_code is not None else "identifiers"
        organization = Organization(organisation.ogrn, organisation.name)
        await self.store.opened_by(who.user_id, book.id)
        book = await self._change(
            book,
            lambda b: domain.open_to(
                b, grant_id=new_id(), organization=organization, worker_id=who.user_id,
                via=via, now=now, days=self.settings.grant_days,
            ),
            busy=_busy,
        )  # fmt: skip
        await self.log_access(book, who, "lookup", f"Поиск книжки ({via})")
        if await self.store.is_deactivated(who.user_id):
            # Deactivated while this lookup ran: the handler may have listed the worker's
            # grants before this one was written, so it ends here, with the worker.
            ours = [g.id for g in book.grants if g.granted_by == who.user_id]
            await self._change(book, self._ending(ours, "deactivation"), busy=_busy)
            raise Problem.forbidden("Учётная запись сотрудника отключена.")
        return book

    async def granted_book(
        self, who: Principal, book_id: str, *, records: bool = False
    ) -> tuple[Book, Organization]:
        organisation = await self.worker_organisation(who)
        book = await self.store.get(book_id, records=records)
        if book is None or not book.open_to(organisation.ogrn, self.clock()):
            raise not_found()
        return book, Organization(organisation.ogrn, organisation.name)

    async def granted_shown(self, who: Principal, book_id: str) -> tuple[Book, str]:
        """A book open to the worker's organisation, for reading (see ``store.shown``)."""
        organisation = await self.worker_organisation(who)
        found = await self.store.shown({"_id": book_id})
        if found is None or not found[0].open_to(organisation.ogrn, self.clock()):
            raise not_found()
        return found

    async def add_record(
        self, who: Principal, book_id: str, raw: Any, key_id: str, signature: str
    ) -> domain.RecordVersion:
        # Three independent reads at once: the worker's standing, the book, the key.
        organisation, found, key = await asyncio.gather(
            self.worker_organisation(who),
            self.store.get(book_id, records=True),
            self.store.key(key_id),
        )
        now = self.clock()
        if found is None or not found.open_to(organisation.ogrn, now):
            raise not_found()
        book, organization = found, Organization(organisation.ogrn, organisation.name)
        today = moscow_date(now)
        errors = FieldErrors()
        checked = check_record(
            raw, book_id=book.id, birth_date=book.holder.birth_date, today=today, errors=errors
        )
        canonical = self._verify(who, raw, key, signature, errors, organisation.ogrn)
        exam_type = raw.get("exam_type") if isinstance(raw, dict) else None
        if (
            checked is not None
            and checked.kind == "exam"
            and exam_type not in organisation.licensed_exams
        ):
            errors.add(
                "record.exam_type",
                "not_licensed",
                "у медицинской организации нет лицензии на такой вид осмотра",
            )
        errors.raise_if_any("Запись не принята.")
        assert checked is not None
        assert key is not None
        author = Author(who.user_id, key.get("worker_name"))
        digest = hashlib.sha256(canonical or b"").hexdigest()
        for _ in range(5):
            try:
                change = domain.add_record(
                    book, checked, author=author, organization=organization, key_id=key_id,
                    signature=signature, canonical_sha256=digest,
                    now=now, today=today, errors=errors,
                )  # fmt: skip
                errors.raise_if_any("Запись не принята.")
                assert change is not None
                assert change.record is not None
                written = await self.store.apply(book, change, today)
            except DuplicateRecordError:
                raise Problem.conflict(
                    "Запись с таким record_id уже есть в книжке.", current_state="recorded"
                ) from None
            if written:
                await self.log_access(book, who, "write", f"Запись: {checked.kind}")
                return change.record
            reread = await self.store.get(book_id, records=True)
            # Decided again on what the other writer left — the grant included: one the holder
            # ended meanwhile is ended for this write too.
            if reread is None or not reread.open_to(organization.id, self.clock()):
                raise not_found()
            book = reread
        raise Problem.conflict("Книжка сейчас изменяется. Повторите попытку.")

    def _verify(
        self,
        who: Principal,
        raw: Any,
        key: dict[str, Any] | None,
        signature: str,
        errors: FieldErrors,
        organization_id: str,
    ) -> bytes | None:
        """The canonical bytes of the record as received, if the signature holds."""
        try:
            canonical = rfc8785.dumps(raw)
        except (rfc8785.CanonicalizationError, TypeError, ValueError):
            errors.add("record", "not_canonical", "запись нельзя привести к канонической форме")
            return None
        holds = self._signature_holds(who, canonical, key, signature, errors, organization_id)
        return canonical if holds else None

    def _signature_holds(
        self,
        who: Principal,
        canonical: bytes,
        key: dict[str, Any] | None,
        signature: str,
        errors: FieldErrors,
        organization_id: str,
    ) -> bool:
        # The worker's own live key, registered for the organisation they sign for now.
        if (
            key is None
            or key["worker_id"] != who.user_id
            or key["state"] != "live"
            or key["organization_id"] != organization_id
        ):
            errors.add("key_id", "unknown_key", "нет действующего ключа подписи с таким key_id")
            return False
        public, raw_signature = _unb64(key["public_key"]), _unb64(signature)
        if (
            public is None
            or raw_signature is None
            or not self.scheme.verify(public, canonical, raw_signature)
        ):
            errors.add("signature", "invalid", "подпись не соответствует записи и ключу")
            return False
        return True

    # --- signing keys ----------------------------------------------------------------------------

    async def register_key(self, who: Principal, public_key: str) -> dict[str, Any]:
        organisation = await self.worker_organisation(who)
        now = self.clock()
        max_age = self.settings.signing_key_login_max_age_seconds
        if who.auth_time is None or now.timestamp() - who.auth_time > max_age:
            raise Problem(
                401,
                detail=(
                    "Ключ подписи можно зарегистрировать только в течение "
                    f"{max_age // 60} минут после входа. Войдите заново."
                ),
                # RFC 9470: the client knows to ask the person to sign in again.
                headers={"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
            )
        raw = _unb64(public_key)
        if raw is None or not self.scheme.public_key_ok(raw):
            reason = "ожидается открытый ключ Ed25519: 32 байта в base64url без дополнения"
            raise Problem.validation([FieldError.of("public_key", "format", reason)])
        key_id = "k-" + hashlib.sha256(raw).hexdigest()[:24]
        existing = await self.store.key(key_id)
        if existing is not None and (
            existing["worker_id"] != who.user_id or existing["state"] != "live"
        ):
            raise Problem.conflict(
                "Этот ключ уже зарегистрирован или отозван. Создайте новую пару ключей.",
                current_state=str(existing["state"])
                if existing["worker_id"] == who.user_id
                else "taken",
            )
        try:
            staff = await self.people.staff(who.user_id)
        except PeerRefusedError:
            raise Problem.forbidden("Учётная запись сотрудника не найдена.") from None
        except PeerUnavailableError:
            raise Problem.unavailable(
                "Сервис учётных записей временно недоступен. Повторите попытку позже.",
                retry_after_seconds=10,
            ) from None
        return await self.store.register_key(
            {
                "_id": key_id,
                "public_key": base64.urlsafe_b64encode(raw).decode().rstrip("="),
                "algorithm": self.scheme.name,
                "worker_id": who.user_id,
                "worker_name": staff.name,
                "organization_id": organisation.ogrn,
                "organization_name": organisation.name,
                "state": "live",
                "registered_at": now,
            },
            now,
        )

    async def revoke_key(self, who: Principal, key_id: str) -> None:
        key = await self.store.key(key_id)
        own = key is not None and key["worker_id"] == who.user_id
        if key is None or not (own or who.role == "admin"):
            raise not_found("Ключ подписи не найден.")
        await self.store.revoke_key(key_id, who.user_id, self.clock())

    # --- reading and the access log --------------------------------------------------------------

    async def operator_view(self, who: Principal, book_id: str, reason: str | None) -> Book:
        access = STATUS_READING.check(who, reason=reason, content=False)
        book = await self.store.get(book_id)
        if book is None:
            raise not_found()
        STATUS_READING.require_owner(access, who, book.holder_id)
        await self.log_access(book, who, "read_status", reason)
        return book

    async def log_access(self, book: Book, who: Principal, action: str, reason: str | None) -> None:
        await self.store.access_log.record(
            book.id, book.holder_id, actor_id=who.user_id, actor_role=who.role, action=action,
            reason=reason, at=self.clock(), organization_id=who.organization_id,
        )  # fmt: skip

    # --- helpers ---------------------------------------------------------------------------------

    async def _change(
        self,
        book: Book,
        decide: Callable[[Book], Change | None],
        busy: Callable[[], Exception] = lambda: RetryLater("the book kept changing"),
    ) -> Book:
        """Decide on the stored version and write conditionally on it; on a race, decide
        again on what the other writer left. Returns the book as written."""
        for _ in range(5):
            change = decide(book)
            if change is None:
                return book
            if await self.store.apply(book, change, moscow_date(self.clock())):
                written = await self.store.get(book.id)
                assert written is not None
                return written
            reread = await self.store.get(book.id)
            if reread is None:
                raise not_found()
            book = reread
        raise busy()


def _busy() -> Problem:
    return Problem.conflict("Книжка сейчас изменяется другим действием. Повторите попытку.")


async def _peer(call: Awaitable[T]) -> T:
    """A peer's answer, or :class:`RetryLater` while it is down or slow (an event handler
    waits for it; nothing goes to the dead-letter topic for an outage)."""
    try:
        return await call
    except PeerUnavailableError as exc:
        raise RetryLater(str(exc)) from None
    except PeerRefusedError as exc:
        raise DeadLetter(str(exc)) from None
