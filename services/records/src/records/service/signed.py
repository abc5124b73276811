"""Signed records and the keys that sign them: a medical worker registers a key soon after
a login, and writes records (or corrections) signed with it into a book open to their
organisation. Whatever is off is refused with every field named at once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import rfc8785

from emk_common.auth import Principal
from emk_common.field_errors import FieldErrors
from emk_common.problems import FieldError, Problem
from records.domain import book as domain
from records.domain.book import Author, DuplicateRecordError, Organization
from records.domain.dates import moscow_date
from records.domain.keys import SigningKey
from records.domain.records import check_record
from records.ports import PeerRefusedError, PeerUnavailableError
from records.service.core import Core, not_found, unb64

_NO_KEY = "Ключ подписи не найден."


class Signed(Core):
    # --- records -------------------------------------------------------------------------

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
        author = Author(who.user_id, key.worker_name)
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
        key: SigningKey | None,
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
        if key is None or not key.signs_for(who.user_id, organization_id):
            errors.add("key_id", "unknown_key", "нет действующего ключа подписи с таким key_id")
            return None
        public, raw_signature = unb64(key.public_key), unb64(signature)
        if (
            public is None
            or raw_signature is None
            or not self.scheme.verify(public, canonical, raw_signature)
        ):
            errors.add("signature", "invalid", "подпись не соответствует записи и ключу")
            return None
        return canonical

    # --- signing keys --------------------------------------------------------------------

    async def register_key(self, who: Principal, public_key: str) -> SigningKey:
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
        raw = unb64(public_key)
        if raw is None or not self.scheme.public_key_ok(raw):
            reason = "ожидается открытый ключ Ed25519: 32 байта в base64url без дополнения"
            raise Problem.validation([FieldError.of("public_key", "format", reason)])
        key_id = "k-" + hashlib.sha256(raw).hexdigest()[:24]
        existing = await self.store.key(key_id)
        if existing is not None and (existing.worker_id != who.user_id or existing.state != "live"):
            raise Problem.conflict(
                "Этот ключ уже зарегистрирован или отозван. Создайте новую пару ключей.",
                current_state=existing.state if existing.worker_id == who.user_id else "taken",
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
        key = SigningKey(
            id=key_id,
            public_key=base64.urlsafe_b64encode(raw).decode().rstrip("="),
            algorithm=self.scheme.name,
            worker_id=who.user_id,
            worker_name=staff.name,
            organization_id=organisation.ogrn,
            organization_name=organisation.name,
            state="live",
            registered_at=now,
        )
        return await self.store.register_key(key, now)

    async def revoke_key(self, who: Principal, key_id: str) -> None:
        key = await self.store.key(key_id)
        own = key is not None and key.worker_id == who.user_id
        if key is None or not (own or who.role == "admin"):
            raise not_found(_NO_KEY)
        await self.store.revoke_key(key_id, who.user_id, self.clock())

    async def signing_key(self, key_id: str) -> SigningKey:
        """A public key, to verify what it signed: anyone signed in may read it."""
        key = await self.store.key(key_id)
        if key is None:
            raise not_found(_NO_KEY)
        return key
