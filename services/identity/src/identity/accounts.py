"""Accounts: registration, contact confirmation, personal data, TOTP, staff."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any, Final, cast

from pymongo.errors import DuplicateKeyError

from emk_common import catalog
from emk_common.catalog import Role
from emk_common.events import Envelope, EventData
from emk_common.limits import RateLimits
from emk_common.problems import FieldError, Problem
from emk_common.service import Runtime
from identity.adapters.registries import PersonCheck, PersonRegistry
from identity.delivery import CodeCourier
from identity.domain import totp
from identity.domain.otp import OneTimeCode, Verdict, new_code
from identity.domain.passwords import Passwords
from identity.domain.users import CHANNELS, Channel, Status, status_after_contacts
from identity.settings import IdentitySettings
from identity.store import PersonalVault, Users, new_id, now_utc

log = logging.getLogger(__name__)

_SIGN_IN_INSTEAD = "Войдите или восстановите доступ."
DUPLICATE_MESSAGES = {
    "phone": f"Пользователь с таким номером телефона уже зарегистрирован. {_SIGN_IN_INSTEAD}",
    "email": f"Пользователь с такой электронной почтой уже зарегистрирован. {_SIGN_IN_INSTEAD}",
    "snils": f"Пользователь с таким СНИЛС уже зарегистрирован. {_SIGN_IN_INSTEAD}",
}
PURPOSE_CONTACT: Final = "contact_verification"


class Accounts:
    def __init__(
        self,
        runtime: Runtime,
        settings: IdentitySettings,
        vault: PersonalVault,
        passwords: Passwords,
        courier: CodeCourier,
        registry: PersonRegistry,
        code_key: bytes,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.vault = vault
        self.passwords = passwords
        self.courier = courier
        self.registry = registry
        self.code_key = code_key
        self.users = Users(runtime.collection("users"))
        self.limits = RateLimits(runtime.collection("rate_limits"))

    # --- helpers ---------------------------------------------------------------------------

    def event(self, data: EventData, user_id: str) -> Envelope:
        return Envelope.wrap(data, source="identity", subject=user_id)

    async def limit(self, bucket: str, key: str, limit: int, window: timedelta) -> None:
        wait = await self.limits.hit(bucket, key, limit=limit, window=window)
        if wait is not None:
            raise Problem.rate_limited(wait)

    def _code(
        self, user_id: str, channel: Channel, destination: str
    ) -> tuple[dict[str, Any], Envelope]:
        now = now_utc()
        code = new_code()
        ttl = timedelta(seconds=self.settings.otp_ttl_seconds)
        stored = OneTimeCode.issue(
            code, key=self.code_key, context=f"{user_id}:{channel}", now=now, ttl=ttl
        )
        command = self.courier.command(
            subject=user_id,
            user_id=user_id,
            channel=channel,
            destination=destination,
            code=code,
            purpose=PURPOSE_CONTACT,
            expires_at=stored.expires_at,
        )
        return asdict(stored), command

    async def require(self, user_id: str) -> dict[str, Any]:
        user = await self.users.get(user_id)
        if user is None:
            raise Problem.not_found("Учётная запись не найдена.")
        return user

    # --- registration ----------------------------------------------------------------------

    async def register(
        self,
        person: dict[str, Any],
        password: str,
        *,
        role: str = "citizen",
        organization_id: str | None = None,
        created_by: str | None = None,
    ) -> str:
        """Create an account; for citizens, send codes to both contacts."""
        user_id = new_id()
        now = now_utc()
        citizen = role == "citizen"
        contacts: dict[str, Any] = {}
        commands: list[Envelope] = []
        channels: tuple[tuple[Channel, str], ...] = (
            ("sms", person["phone"]),
            ("email", person["email"]),
        )
        for channel, destination in channels:
            if citizen:
                code, command = self._code(user_id, channel, destination)
                contacts[channel] = {"verified": False, "code": code}
                commands.append(command)
            else:
                contacts[channel] = {"verified": True, "code": None}
        index = {
            kind: self.vault.index(kind, person[kind])
            for kind in ("phone", "email", "snils")
            if person.get(kind)
        }
        event: EventData = (
            catalog.UserRegistered(user_id=user_id, role="citizen")
            if citizen
            else catalog.StaffAccountCreated(
                user_id=user_id,
                role=cast(Role, role),
                organization_id=organization_id,
                created_by=created_by or "bootstrap",
            )
        )
        document = {
            "_id": user_id,
            "role": role,
            "status": Status.PENDING_CONTACTS if citizen else Status.READY,
            "organization_id": organization_id,
            "pii": self.vault.seal(user_id, person),
            "personal_data": None,
            "index": index,
            "password_hash": self.passwords.hash(password),
            "contacts": contacts,
            "totp": None,
            "locked_until": None,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        try:
            await self.users.insert(
                self.runtime.outbox.insert(document, [self.event(event, user_id), *commands])
            )
        except DuplicateKeyError as exc:
            raise await self._duplicate(index) from exc
        return user_id

    async def _duplicate(self, index: dict[str, str]) -> Problem:
        errors = [
            FieldError(field=kind, code="already_registered", message=DUPLICATE_MESSAGES[kind])
            for kind, value in index.items()
            if await self.users.by_index(kind, value) is not None
        ]
        return Problem(
            409,
            code="already-registered",
            detail="Такой пользователь уже зарегистрирован.",
            errors=errors,
        )

    # --- contacts --------------------------------------------------------------------------

    async def verify_contact(self, user_id: str, channel: Channel, code: str) -> str:
        await self.limit(
            "verify-account", user_id, self.settings.verify_per_account_per_hour, timedelta(hours=1)
        )
        user = await self.require(user_id)
        contact = user["contacts"][channel]
        if contact["verified"]:
            return str(user["status"])
        if contact["code"] is None:
            raise _code_problem(Verdict.EXHAUSTED)
        stored = OneTimeCode(**contact["code"])
        verdict, after = stored.check(
            code,
            key=self.code_key,
            context=f"{user_id}:{channel}",
            now=now_utc(),
            max_attempts=self.settings.otp_max_attempts,
        )
        if verdict is not Verdict.ACCEPTED:
            if after != stored:
                await self.users.update(
                    user_id, user["version"], {"$set": {f"contacts.{channel}.code": asdict(after)}}
                )
            raise _code_problem(verdict, self.settings.otp_max_attempts - after.attempts)
        verified: dict[str, bool] = {
            c: bool(user["contacts"][c]["verified"]) or c == channel for c in CHANNELS
        }
        status = status_after_contacts(verified, Status(user["status"]))
        update = {
            "$set": {
                f"contacts.{channel}.verified": True,
                f"contacts.{channel}.code": None,
                "status": status,
            }
        }
        events = [self.event(catalog.ContactVerified(user_id=user_id, channel=channel), user_id)]
        if (
            await self.users.update(
                user_id, user["version"], self.runtime.outbox.update(user_id, update, events)
            )
            is None
        ):
            raise Problem.conflict("Данные учётной записи изменились. Повторите запрос.")
        return str(status)

    async def resend(self, user_id: str, channel: Channel) -> None:
        await self.limit(
            "resend-account", user_id, self.settings.resend_per_account_per_hour, timedelta(hours=1)
        )
        user = await self.require(user_id)
        contact = user["contacts"][channel]
        if contact["verified"]:
            raise Problem.conflict("Этот контакт уже подтверждён.")
        if contact["code"] is not None:
            wait = OneTimeCode(**contact["code"]).resend_wait(
                now=now_utc(), cooldown=timedelta(seconds=self.settings.otp_resend_cooldown_seconds)
            )
            if wait > 0:
                raise Problem.rate_limited(wait)
        person = self.vault.open(user_id, user["pii"])
        code, command = self._code(
            user_id, channel, person["phone" if channel == "sms" else "email"]
        )
        update = self.runtime.outbox.update(
            user_id, {"$set": {f"contacts.{channel}.code": code}}, [command]
        )
        if await self.users.update(user_id, user["version"], update) is None:
            raise Problem.conflict("Данные учётной записи изменились. Повторите запрос.")

    # --- personal data ---------------------------------------------------------------------

    async def personal_data_owner(self, user_id: str) -> dict[str, Any]:
        """The account, if it may enter personal data now."""
        user = await self.require(user_id)
        if user["role"] != "citizen":
            raise Problem.forbidden("Персональные данные заполняют граждане.")
        if user["status"] == Status.PENDING_CONTACTS:
            raise Problem.conflict(
                "Сначала подтвердите телефон и электронную почту.", current_state=user["status"]
            )
        return user

    async def set_personal_data(self, user_id: str, data: dict[str, Any]) -> str:
        user = await self.personal_data_owner(user_id)
        person = self.vault.open(user_id, user["pii"])
        passport = data["passport"]
        discrepancies = await self.registry.check(
            PersonCheck(
                last_name=person["last_name"],
                first_name=person["first_name"],
                middle_name=person.get("middle_name"),
                birth_date=date.fromisoformat(person["birth_date"]),
                snils=person["snils"],
                passport_series=passport["series"],
                passport_number=passport["number"],
                passport_issued_at=date.fromisoformat(passport["issued_at"]),
            )
        )
        if discrepancies:
            raise Problem.validation(
                [FieldError(field=d.field, code=d.code, message=d.message) for d in discrepancies]
            )
        first_time = user["status"] != Status.READY
        # Every change is announced (ids only): whoever keeps a copy asks again.
        events = [self.event(catalog.PersonalDataChanged(user_id=user_id), user_id)]
        if first_time:
            events.insert(0, self.event(catalog.PersonalDataVerified(user_id=user_id), user_id))
        update = {
            "$set": {
                "personal_data": self.vault.seal(user_id, data, part="personal_data"),
                "status": Status.READY,
            }
        }
        if (
            await self.users.update(
                user_id, user["version"], self.runtime.outbox.update(user_id, update, events)
            )
            is None
        ):
            raise Problem.conflict("Данные учётной записи изменились. Повторите запрос.")
        return Status.READY

    # --- TOTP ------------------------------------------------------------------------------

    async def start_totp(self, user_id: str) -> dict[str, str]:
        user = await self.require(user_id)
        secret = totp.new_secret()
        sealed = self.vault.secret(f"users.totp:{user_id}", secret)
        await self.users.update(user_id, user["version"], {"$set": {"totp_pending": sealed}})
        person = self.vault.open(user_id, user["pii"])
        return {"secret": secret, "otpauth_uri": totp.otpauth_uri(secret, account=person["email"])}

    async def confirm_totp(self, user_id: str, code: str) -> None:
        user = await self.require(user_id)
        if not user.get("totp_pending"):
            raise Problem.conflict("Сначала начните подключение приложения-аутентификатора.")
        secret = self.vault.reveal(f"users.totp:{user_id}", user["totp_pending"])
        step = totp.matching_step(
            secret, code, unix_time=now_utc().timestamp(), last_used_step=None
        )
        if step is None:
            raise Problem.validation(
                [
                    FieldError(
                        field="code",
                        code="wrong_code",
                        message=(
                            "Неверный код из приложения. "
                            "Проверьте время на телефоне и введите новый код."
                        ),
                    )
                ]
            )
        update = {
            "$set": {"totp": {"secret": user["totp_pending"], "last_step": step}},
            "$unset": {"totp_pending": ""},
        }
        events = [
            self.event(
                catalog.TwoFactorChanged(user_id=user_id, method="totp", enabled=True), user_id
            )
        ]
        if (
            await self.users.update(
                user_id, user["version"], self.runtime.outbox.update(user_id, update, events)
            )
            is None
        ):
            raise Problem.conflict("Данные учётной записи изменились. Повторите запрос.")

    # --- staff -----------------------------------------------------------------------------

    async def deactivate_staff(self, user_id: str, admin_id: str) -> None:
        """Close a staff account: it can no longer sign in, and ``StaffDeactivated`` tells
        every service (records revokes a medical worker's keys and grants). The caller ends
        the account's sessions. Deactivating twice is a no-op, not an error."""
        user = await self.require(user_id)
        if user["role"] == "citizen":
            raise Problem.not_found("Учётная запись сотрудника не найдена.")
        if user_id == admin_id:
            raise Problem.conflict("Нельзя отключить собственную учётную запись.")
        if user.get("deactivated_at") is not None:
            return
        event = catalog.StaffDeactivated(
            user_id=user_id,
            role=cast(Role, user["role"]),
            organization_id=user.get("organization_id"),
            deactivated_by=admin_id,
        )
        update = self.runtime.outbox.update(
            user_id, {"$set": {"deactivated_at": now_utc()}}, [self.event(event, user_id)]
        )
        if await self.users.update(user_id, user["version"], update) is None:
            raise Problem.conflict("Данные учётной записи изменились. Повторите запрос.")

    async def bootstrap_admin(self) -> None:
        """The first admin, from the environment; replicas racing on it are harmless."""
        email, password = (
            self.settings.emk_bootstrap_admin_email,
            self.settings.emk_bootstrap_admin_password,
        )
        if not email or not password:
            return
        if await self.users.by_index("email", self.vault.index("email", email.lower())) is not None:
            return
        person = {
            "last_name": "Администратор",
            "first_name": "ЭМК",
            "middle_name": None,
            "phone": None,
            "email": email.lower(),
        }
        try:
            await self.register(person, password, role="admin")
            log.info("bootstrap admin account created")
        except Problem:
            pass


def _code_problem(verdict: Verdict, remaining: int = 0) -> Problem:
    messages = {
        Verdict.EXPIRED: ("expired", "Срок действия кода истёк. Запросите новый код."),
        Verdict.EXHAUSTED: (
            "exhausted",
            "Код больше не действует: исчерпаны попытки ввода. Запросите новый код.",
        ),
        Verdict.WRONG: ("wrong_code", f"Неверный код. Осталось попыток: {remaining}."),
    }
    code, message = messages[verdict]
    return Problem.validation([FieldError(field="code", code=code, message=message)])
