"""The account: a typed aggregate with its rules. The store alone knows its document shape.

A citizen's account moves ``pending_contacts`` → ``pending_personal_data`` → ``ready``; a
staff account is ``ready`` from the start (an admin made it, the contacts are trusted). Each
decision returns the account as it is after it and the events it raises; the service writes
both at once, conditional on the version the decision was made on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from emk_common import catalog
from emk_common.catalog import Role
from emk_common.events import EventData
from identity.domain.otp import OneTimeCode, Verdict

Channel = Literal["sms", "email"]
CHANNELS: tuple[Channel, ...] = ("sms", "email")
SecondFactor = Literal["sms", "email", "totp"]
StaffRole = Literal["operator", "medical_worker", "employer", "admin"]


class Status(StrEnum):
    PENDING_CONTACTS = "pending_contacts"
    PENDING_PERSONAL_DATA = "pending_personal_data"
    READY = "ready"


STATUS_LABELS = {
    Status.PENDING_CONTACTS: "Подтвердите телефон и электронную почту",
    Status.PENDING_PERSONAL_DATA: "Заполните персональные данные",
    Status.READY: "Учётная запись готова к работе",
}


def status_after_contacts(verified: Mapping[Channel, bool], current: Status) -> Status:
    """Both contacts confirmed moves a new account on to personal data."""
    if current is Status.PENDING_CONTACTS and all(verified.get(c) for c in CHANNELS):
        return Status.PENDING_PERSONAL_DATA
    return current


@dataclass(frozen=True)
class Person:
    """Who the account belongs to, as registered. Staff have no birth date, sex or СНИЛС;
    the bootstrap admin has no phone."""

    last_name: str
    first_name: str
    middle_name: str | None
    phone: str | None
    email: str
    birth_date: date | None = None
    sex: Literal["M", "F"] | None = None
    snils: str | None = None


@dataclass(frozen=True)
class Passport:
    series: str
    number: str
    issued_at: date
    issued_by: str
    division_code: str


@dataclass(frozen=True)
class Address:
    region_code: str
    locality: str
    street: str
    house: str
    postal_code: str | None = None
    flat: str | None = None


@dataclass(frozen=True)
class PersonalData:
    passport: Passport
    birth_place: str
    registration_address: Address
    actual_address: Address
    oms_policy: str | None
    inn: str | None


@dataclass(frozen=True)
class Contact:
    verified: bool
    # The code last sent to it, while it is unconfirmed (``None``: none, or burned).
    code: OneTimeCode | None = None


@dataclass(frozen=True)
class Totp:
    secret: str
    # The last 30-second step accepted: a step is never accepted twice.
    last_step: int


def contact_context(user_id: str, channel: Channel) -> str:
    """What a contact code's hash is bound to: this account and this channel."""
    return f"{user_id}:{channel}"


@dataclass(frozen=True)
class ContactCheck:
    """A code entered for a contact: the verdict, the account after it, the tries left."""

    verdict: Verdict
    user: User
    remaining: int
    events: list[EventData]


@dataclass(frozen=True)
class User:
    id: str
    role: Role
    status: Status
    organization_id: str | None
    person: Person
    personal_data: PersonalData | None
    password_hash: str
    contacts: dict[Channel, Contact]
    created_at: datetime
    version: int = 1
    totp: Totp | None = None
    # An authenticator app being enrolled: its secret, until a first code confirms it.
    totp_pending: str | None = None
    locked_until: datetime | None = None
    deactivated_at: datetime | None = None

    # --- registration -------------------------------------------------------------------

    @classmethod
    def citizen(
        cls,
        *,
        user_id: str,
        person: Person,
        password_hash: str,
        codes: dict[Channel, OneTimeCode],
        now: datetime,
    ) -> tuple[User, list[EventData]]:
        """A new citizen: both contacts wait for the codes just sent to them."""
        user = cls(
            id=user_id,
            role="citizen",
            status=Status.PENDING_CONTACTS,
            organization_id=None,
            person=person,
            personal_data=None,
            password_hash=password_hash,
            contacts={c: Contact(verified=False, code=codes[c]) for c in CHANNELS},
            created_at=now,
        )
        return user, [catalog.UserRegistered(user_id=user_id, role="citizen")]

    @classmethod
    def staff(
        cls,
        *,
        user_id: str,
        role: Role,
        person: Person,
        organization_id: str | None,
        password_hash: str,
        created_by: str | None,
        now: datetime,
    ) -> tuple[User, list[EventData]]:
        """A staff account, ready at once: whoever made it vouches for its contacts."""
        user = cls(
            id=user_id,
            role=role,
            status=Status.READY,
            organization_id=organization_id,
            person=person,
            personal_data=None,
            password_hash=password_hash,
            contacts={c: Contact(verified=True) for c in CHANNELS},
            created_at=now,
        )
        event = catalog.StaffAccountCreated(
            user_id=user_id,
            role=role,
            organization_id=organization_id,
            created_by=created_by or "bootstrap",
        )
        return user, [event]

    # --- contacts -----------------------------------------------------------------------

    @property
    def is_citizen(self) -> bool:
        return self.role == "citizen"

    def destination(self, channel: Channel) -> str:
        """Where a code for ``channel`` goes."""
        value = self.person.phone if channel == "sms" else self.person.email
        if value is None:
            raise ValueError(f"account {self.id} has no {channel} contact")
        return value

    def with_contact_code(self, channel: Channel, code: OneTimeCode) -> User:
        contacts = {**self.contacts, channel: replace(self.contacts[channel], code=code)}
        return replace(self, contacts=contacts)

    def confirm_contact(
        self, channel: Channel, code: str, *, key: bytes, now: datetime, max_attempts: int
    ) -> ContactCheck:
        """Check a code sent to a contact. A confirmed contact stays confirmed (the answer is
        the account as it is); a wrong try is counted; the right one confirms the contact
        and, with both confirmed, moves the account on."""
        contact = self.contacts[channel]
        if contact.verified:
            return ContactCheck(Verdict.ACCEPTED, self, 0, [])
        if contact.code is None:
            return ContactCheck(Verdict.EXHAUSTED, self, 0, [])
        verdict, after = contact.code.check(
            code,
            key=key,
            context=contact_context(self.id, channel),
            now=now,
            max_attempts=max_attempts,
        )
        if verdict is not Verdict.ACCEPTED:
            return ContactCheck(
                verdict, self.with_contact_code(channel, after), max_attempts - after.attempts, []
            )
        contacts = {**self.contacts, channel: Contact(verified=True, code=None)}
        verified = {c: contacts[c].verified for c in CHANNELS}
        user = replace(self, contacts=contacts, status=status_after_contacts(verified, self.status))
        return ContactCheck(
            verdict, user, 0, [catalog.ContactVerified(user_id=self.id, channel=channel)]
        )

    def confirm_counted_contact(
        self, channel: Channel, code: str, *, key: bytes, now: datetime, max_attempts: int
    ) -> ContactCheck:
        """``confirm_contact`` for a try the store has already counted in the sent code (its
        ``attempts`` include this try): tries are counted atomically before any code is
        compared, so that tries sent at once each use one up."""
        sent = self.contacts[channel].code
        if sent is None or self.contacts[channel].verified:
            return self.confirm_contact(channel, code, key=key, now=now, max_attempts=max_attempts)
        uncounted = self.with_contact_code(channel, replace(sent, attempts=sent.attempts - 1))
        return uncounted.confirm_contact(channel, code, key=key, now=now, max_attempts=max_attempts)

    # --- personal data ------------------------------------------------------------------

    def with_personal_data(self, data: PersonalData) -> tuple[User, list[EventData]]:
        """Every change is announced (ids only): whoever keeps a copy asks again."""
        events: list[EventData] = [catalog.PersonalDataChanged(user_id=self.id)]
        if self.status is not Status.READY:
            events.insert(0, catalog.PersonalDataVerified(user_id=self.id))
        return replace(self, personal_data=data, status=Status.READY), events

    # --- second factor ------------------------------------------------------------------

    @property
    def second_factor(self) -> SecondFactor:
        """The app once enrolled; otherwise citizens by SMS, staff by e-mail."""
        if self.totp is not None:
            return "totp"
        return "sms" if self.is_citizen else "email"

    def enrolling_totp(self, secret: str) -> User:
        return replace(self, totp_pending=secret)

    def with_totp(self, step: int) -> tuple[User, list[EventData]]:
        """The pending app confirmed by a code of ``step``."""
        if self.totp_pending is None:
            raise ValueError("no authenticator app is being enrolled")
        user = replace(self, totp=Totp(self.totp_pending, step), totp_pending=None)
        event = catalog.TwoFactorChanged(user_id=self.id, method="totp", enabled=True)
        return user, [event]

    def with_totp_step(self, step: int) -> User:
        if self.totp is None:
            raise ValueError("no authenticator app is enrolled")
        return replace(self, totp=replace(self.totp, last_step=step))

    def locked(self, until: datetime) -> tuple[User, list[EventData]]:
        event = catalog.AccountLocked(user_id=self.id, until=until, reason="password_failures")
        return replace(self, locked_until=until), [event]

    # --- staff --------------------------------------------------------------------------

    def deactivated(self, by: str, now: datetime) -> tuple[User, list[EventData]]:
        """Closed by an admin: ``StaffDeactivated`` tells every service (records revokes a
        medical worker's keys and grants). Closing twice changes nothing."""
        if self.deactivated_at is not None:
            return self, []
        event = catalog.StaffDeactivated(
            user_id=self.id,
            role=self.role,
            organization_id=self.organization_id,
            deactivated_by=by,
        )
        return replace(self, deactivated_at=now), [event]
