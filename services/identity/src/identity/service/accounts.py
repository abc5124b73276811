"""Accounts: registration, contact confirmation, personal data, the authenticator app,
staff accounts."""

from __future__ import annotations

import logging
from datetime import timedelta

from emk_common.catalog import RegistrationAttempted, Role
from emk_common.events import Envelope
from emk_common.problems import Problem
from identity.domain import entries, totp
from identity.domain.entries import PersonalDataEntry, RegistrationEntry, StaffEntry
from identity.domain.ghost import ghost, unreachable_code
from identity.domain.logins import LoginKind
from identity.domain.otp import OneTimeCode, Verdict
from identity.domain.user import CHANNELS, Channel, Person, Status, User, contact_context
from identity.ports import LoginTakenError, PersonCheck
from identity.service import problems
from identity.service.core import Core, new_id

log = logging.getLogger(__name__)

# The notice to the owner of logins someone registered with: at most one a day.
_NOTICE = "registration-notice"
_NOTICE_EVERY = timedelta(days=1)


class Accounts(Core):
    # --- registration -------------------------------------------------------------------

    async def register(self, entry: RegistrationEntry) -> User:
        """A citizen's account; codes go to both contacts."""
        person = entries.citizen(entry, today=self.clock().date())
        user_id = new_id()
        codes: dict[Channel, OneTimeCode] = {}
        commands: list[Envelope] = []
        for channel in CHANNELS:
            destination = person.phone if channel == "sms" else person.email
            assert destination is not None  # a citizen has both
            codes[channel], command = self.send_code(
                subject=user_id,
                user_id=user_id,
                context=contact_context(user_id, channel),
                channel=channel,
                destination=destination,
                purpose="contact_verification",
            )
            commands.append(command)
        user, events = User.citizen(
            user_id=user_id,
            person=person,
            password_hash=self.passwords.hash(entry.password),
            codes=codes,
            now=self.clock(),
        )
        try:
            await self.users.insert(user, [*self.events(user_id, events), *commands])
        except LoginTakenError:
            await self._ghost(user)  # answered as made: no account oracle
        return user

    async def _ghost(self, attempt: User) -> None:
        """A registration with someone's login: its id answers the contact steps as an account
        would, no code goes anywhere, and each owner is told which of their logins were used
        (the password was hashed all the same: the answer takes as long)."""
        by_owner: dict[str, list[LoginKind]] = {}
        for kind, owner in (await self.users.owners(attempt.person)).items():
            by_owner.setdefault(owner, []).append(kind)
        told = []
        for owner, kinds in by_owner.items():
            # Told once a day at most: attempts from many addresses must not flood a person.
            if await self.store.limits.hit(_NOTICE, owner, limit=1, window=_NOTICE_EVERY):
                continue
            told += self.events(owner, [RegistrationAttempted(user_id=owner, logins=kinds)])
        settings = self.settings
        made = ghost(
            attempt.id,
            key=self.code_key,
            now=self.clock(),
            code_ttl=timedelta(seconds=settings.otp_ttl_seconds),
            lifetime=timedelta(days=settings.unconfirmed_account_days),
        )
        await self.store.ghosts.insert(made, told)

    async def create_staff(self, entry: StaffEntry, *, created_by: str) -> User:
        person = entries.staff(entry)
        return await self._staff(
            person,
            entry.password,
            role=entry.role,
            organization_id=entry.organization_id,
            created_by=created_by,
        )

    async def _staff(
        self,
        person: Person,
        password: str,
        *,
        role: Role,
        organization_id: str | None,
        created_by: str | None,
    ) -> User:
        user, events = User.staff(
            user_id=new_id(),
            role=role,
            person=person,
            organization_id=organization_id,
            password_hash=self.passwords.hash(password),
            created_by=created_by,
            now=self.clock(),
        )
        await self._insert(user, self.events(user.id, events))
        return user

    async def _insert(self, user: User, events: list[Envelope]) -> None:
        try:
            await self.users.insert(user, events)
        except LoginTakenError as exc:  # staff: an admin is told which login is taken
            raise problems.already_registered(await self.users.owners(user.person)) from exc

    async def bootstrap_admin(self) -> None:
        """The first admin, from the environment; replicas racing on it are harmless."""
        email = self.settings.emk_bootstrap_admin_email.lower()
        password = self.settings.emk_bootstrap_admin_password
        if not email or not password:
            return
        if await self.users.by_login("email", email) is not None:
            return
        person = Person(
            last_name="Администратор", first_name="ЭМК", middle_name=None, phone=None, email=email
        )
        try:
            await self._staff(person, password, role="admin", organization_id=None, created_by=None)
            log.info("bootstrap admin account created")
        except Problem:
            pass

    # --- contacts -----------------------------------------------------------------------

    async def verify_contact(self, user_id: str, channel: Channel, code: str) -> User:
        """Each try is counted before the code is compared, atomically, so a code is dead
        after ``otp_max_attempts`` wrong tries however many arrive at once."""
        settings = self.settings
        max_attempts = settings.otp_max_attempts
        await self.limit(
            "verify-account", user_id, settings.verify_per_account_per_hour, timedelta(hours=1)
        )
        user = await self.users.get(user_id)
        if user is None:
            raise await self._ghost_try(user_id, channel, code)
        if user.contacts[channel].verified:
            return user  # confirmed stays confirmed, whatever is typed
        counted = await self.users.count_code_try(user, channel, max_attempts)
        if counted is None:  # no code sent, it is used up, or confirmed meanwhile
            return await self._confirmed_meanwhile(user_id, channel, Verdict.EXHAUSTED)
        check = counted.confirm_counted_contact(
            channel, code, key=self.code_key, now=self.clock(), max_attempts=max_attempts
        )
        if check.verdict is not Verdict.ACCEPTED:
            raise problems.contact_code_refused(check.verdict, check.remaining)
        if not await self.users.apply(counted, check.user, self.events(user_id, check.events)):
            return await self._confirmed_meanwhile(user_id, channel, None)
        return check.user

    async def _ghost_try(self, ghost_id: str, channel: Channel, code: str) -> Problem:
        """A code typed for a ghost registration: the refusal an account whose codes the
        caller never received would give (tries counted alike), or 404 for an unknown id."""
        max_attempts = self.settings.otp_max_attempts
        ghosts = self.store.ghosts
        counted = await ghosts.count_try(ghost_id, channel, max_attempts)
        if counted is None:
            if await ghosts.get(ghost_id) is None:
                return problems.no_account()
            return problems.contact_code_refused(Verdict.EXHAUSTED)
        verdict, remaining = counted.check_counted(
            code,
            key=self.code_key,
            context=contact_context(ghost_id, channel),
            now=self.clock(),
            max_attempts=max_attempts,
        )
        # Its code cannot be typed (not six digits): never accepted, whatever arrives.
        verdict = Verdict.WRONG if verdict is Verdict.ACCEPTED else verdict
        return problems.contact_code_refused(verdict, remaining)

    async def _confirmed_meanwhile(
        self, user_id: str, channel: Channel, refusal: Verdict | None
    ) -> User:
        """A try that lost a race: fine if the contact got confirmed meanwhile (the right code
        sent twice at once), else refused — spent (``refusal``) or changed under it (409)."""
        user = await self.require(user_id)
        if user.contacts[channel].verified:
            return user
        if refusal is None:
            raise problems.account_changed()
        raise problems.contact_code_refused(refusal)

    async def resend(self, user_id: str, channel: Channel) -> None:
        settings = self.settings
        await self.limit(
            "resend-account", user_id, settings.resend_per_account_per_hour, timedelta(hours=1)
        )
        user = await self.users.get(user_id)
        if user is None:
            await self._ghost_resend(user_id, channel)
            return
        contact = user.contacts[channel]
        if contact.verified:
            raise Problem.conflict("Этот контакт уже подтверждён.")
        if contact.code is not None:
            cooldown = timedelta(seconds=settings.otp_resend_cooldown_seconds)
            wait = contact.code.resend_wait(now=self.clock(), cooldown=cooldown)
            if wait > 0:
                raise Problem.rate_limited(wait)
        code, command = self.send_code(
            subject=user_id,
            user_id=user_id,
            context=contact_context(user_id, channel),
            channel=channel,
            destination=user.destination(channel),
            purpose="contact_verification",
        )
        await self.write(user, user.with_contact_code(channel, code), [command])

    async def _ghost_resend(self, ghost_id: str, channel: Channel) -> None:
        """A resend for a ghost registration: the same cooldown, and a new code nobody gets."""
        found = await self.store.ghosts.get(ghost_id)
        if found is None:
            raise problems.no_account()
        settings, now = self.settings, self.clock()
        cooldown = timedelta(seconds=settings.otp_resend_cooldown_seconds)
        wait = found.codes[channel].resend_wait(now=now, cooldown=cooldown)
        if wait > 0:
            raise Problem.rate_limited(wait)
        ttl = timedelta(seconds=settings.otp_ttl_seconds)
        fresh = unreachable_code(ghost_id, channel, key=self.code_key, now=now, ttl=ttl)
        await self.store.ghosts.replace_code(ghost_id, channel, fresh)

    # --- personal data ------------------------------------------------------------------

    async def set_personal_data(self, user_id: str, entry: PersonalDataEntry) -> User:
        """Checked against the rules, then against the registries; the account is ready."""
        user = await self.require(user_id)
        if not user.is_citizen:
            raise Problem.forbidden("Персональные данные заполняют граждане.")
        if user.status is Status.PENDING_CONTACTS:
            raise Problem.conflict(
                "Сначала подтвердите телефон и электронную почту.", current_state=user.status
            )
        person = user.person
        # A citizen registered both.
        assert person.birth_date is not None
        assert person.snils is not None
        today = self.clock().date()
        data = entries.personal_data(entry, birth_date=person.birth_date, today=today)
        discrepancies = await self.registry.check(
            PersonCheck(
                last_name=person.last_name,
                first_name=person.first_name,
                middle_name=person.middle_name,
                birth_date=person.birth_date,
                snils=person.snils,
                passport_series=data.passport.series,
                passport_number=data.passport.number,
                passport_issued_at=data.passport.issued_at,
            )
        )
        if discrepancies:
            raise problems.registry_discrepancies(discrepancies)
        after, events = user.with_personal_data(data)
        await self.write(user, after, self.events(user_id, events))
        return after

    # --- the authenticator app ------------------------------------------------------------

    async def start_totp(self, user_id: str) -> tuple[str, str]:
        """A new secret to enrol, and its ``otpauth://`` URI (the QR code's content)."""
        user = await self.require(user_id)
        secret = totp.new_secret()
        await self.users.apply(user, user.enrolling_totp(secret), [])
        return secret, totp.otpauth_uri(secret, account=user.person.email)

    async def confirm_totp(self, user_id: str, code: str) -> None:
        user = await self.require(user_id)
        if user.totp_pending is None:
            raise Problem.conflict("Сначала начните подключение приложения-аутентификатора.")
        step = totp.matching_step(
            user.totp_pending, code, unix_time=self.clock().timestamp(), last_used_step=None
        )
        if step is None:
            raise problems.wrong_app_code()
        after, events = user.with_totp(step)
        await self.write(user, after, self.events(user_id, events))

    # --- staff --------------------------------------------------------------------------

    async def deactivate_staff(self, user_id: str, admin_id: str) -> None:
        """The account can no longer sign in, and every one of its sessions ends now.
        Deactivating twice is a no-op, not an error."""
        user = await self.require(user_id)
        if user.is_citizen:
            raise Problem.not_found("Учётная запись сотрудника не найдена.")
        if user_id == admin_id:
            raise Problem.conflict("Нельзя отключить собственную учётную запись.")
        after, events = user.deactivated(admin_id, self.clock())
        if after is not user:
            await self.write(user, after, self.events(user_id, events))
        for session_id in await self.store.sessions.active(user_id):
            await self.end_session(session_id, user_id)
