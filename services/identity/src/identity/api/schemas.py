"""Request bodies (shape and types; the rules run in ``identity.domain.entries``, all at
once) and the bodies of the answers, built from the aggregate."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from emk_common.field_errors import RequestBody
from identity.domain.accesses import (
    ACTION_LABELS,
    RESOURCE_LABELS,
    ROLE_LABELS,
    SERVICE_LABELS,
    label,
)
from identity.domain.entries import (
    AddressEntry,
    PassportEntry,
    PersonalDataEntry,
    RegistrationEntry,
    StaffEntry,
)
from identity.domain.logins import mask_email, mask_phone, mask_snils, mask_tail
from identity.domain.session import Challenge
from identity.domain.user import STATUS_LABELS, SecondFactor, Status, User
from identity.ports import PublishedKey
from identity.service import Tokens
from identity.service.accesses import Seen, SeenPage

BEARER: Literal["Bearer"] = "Bearer"

# --- requests -----------------------------------------------------------------------------------


class Registration(RequestBody):
    last_name: str = Field(max_length=100)
    first_name: str = Field(max_length=100)
    middle_name: str | None = Field(default=None, max_length=100)
    birth_date: date
    sex: Literal["M", "F"]
    phone: str = Field(max_length=32)
    email: str = Field(max_length=254)
    password: str = Field(max_length=256)
    snils: str = Field(max_length=20)

    def entry(self) -> RegistrationEntry:
        return RegistrationEntry(**self.model_dump())


class Address(RequestBody):
    region_code: str
    postal_code: str | None = None
    locality: str
    street: str
    house: str
    flat: str | None = None

    def entry(self) -> AddressEntry:
        return AddressEntry(**self.model_dump())


class Passport(RequestBody):
    series: str
    number: str
    issued_at: date
    issued_by: str = Field(max_length=300)
    division_code: str


class PersonalData(RequestBody):
    passport: Passport
    birth_place: str = Field(max_length=300)
    registration_address: Address
    actual_address: Address | None = None
    oms_policy: str | None = None
    inn: str | None = None

    def entry(self) -> PersonalDataEntry:
        return PersonalDataEntry(
            passport=PassportEntry(**self.passport.model_dump()),
            birth_place=self.birth_place,
            registration_address=self.registration_address.entry(),
            actual_address=self.actual_address.entry() if self.actual_address else None,
            oms_policy=self.oms_policy,
            inn=self.inn,
        )


class StaffAccount(RequestBody):
    role: Literal["operator", "medical_worker", "employer", "admin"]
    last_name: str = Field(max_length=100)
    first_name: str = Field(max_length=100)
    middle_name: str | None = Field(default=None, max_length=100)
    email: str = Field(max_length=254)
    phone: str = Field(max_length=32)
    password: str = Field(max_length=256)
    organization_id: str | None = Field(default=None, max_length=64)

    def entry(self) -> StaffEntry:
        return StaffEntry(**self.model_dump())


class ContactCode(RequestBody):
    user_id: str = Field(max_length=64)
    channel: Literal["sms", "email"]
    code: str = Field(max_length=12)


class ContactResend(RequestBody):
    user_id: str = Field(max_length=64)
    channel: Literal["sms", "email"]


class LoginBody(RequestBody):
    login: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class LoginCode(RequestBody):
    challenge_id: str = Field(max_length=64)
    code: str = Field(max_length=12)


class RefreshBody(RequestBody):
    refresh_token: str = Field(max_length=200)


class TotpCode(RequestBody):
    code: str = Field(max_length=12)


# --- answers ------------------------------------------------------------------------------------


class Registered(BaseModel):
    user_id: str
    status: str


class StaffCreated(BaseModel):
    user_id: str


class AccountStatus(BaseModel):
    status: str
    status_label: str

    @classmethod
    def of(cls, user: User) -> AccountStatus:
        return cls(status=user.status, status_label=STATUS_LABELS[user.status])


class LoginChallenge(BaseModel):
    challenge_id: str
    channel: SecondFactor
    expires_in: int

    @classmethod
    def of(cls, challenge: Challenge, expires_in: int) -> LoginChallenge:
        return cls(challenge_id=challenge.id, channel=challenge.channel, expires_in=expires_in)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int

    @classmethod
    def of(cls, tokens: Tokens) -> TokenPair:
        return cls(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            token_type=BEARER,
            expires_in=tokens.expires_in,
        )


class TotpEnrolment(BaseModel):
    secret: str
    otpauth_uri: str


class RotatedKey(BaseModel):
    kid: str


class MaskedPassport(BaseModel):
    series: str
    number: str


class Profile(BaseModel):
    """``GET /me``: what the owner sees of their account, identifiers masked. The passport,
    ОМС and ИНН members appear once personal data is entered (the route leaves unset
    members out)."""

    user_id: str
    role: str
    status: Status
    status_label: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date | None
    sex: str | None
    phone: str | None
    email: str
    snils: str | None
    contacts_verified: dict[str, bool]
    two_factor: SecondFactor
    organization_id: str | None
    passport: MaskedPassport | None = None
    oms_policy: str | None = None
    inn: str | None = None

    @classmethod
    def of(cls, user: User) -> Profile:
        person = user.person
        profile = cls(
            user_id=user.id,
            role=user.role,
            status=user.status,
            status_label=STATUS_LABELS[user.status],
            last_name=person.last_name,
            first_name=person.first_name,
            middle_name=person.middle_name,
            birth_date=person.birth_date,
            sex=person.sex,
            phone=mask_phone(person.phone) if person.phone else None,
            email=mask_email(person.email),
            snils=mask_snils(person.snils) if person.snils else None,
            contacts_verified={c: v.verified for c, v in user.contacts.items()},
            two_factor=user.second_factor,
            organization_id=user.organization_id,
        )
        data = user.personal_data
        if data is None:
            return profile
        return profile.model_copy(
            update={
                "passport": MaskedPassport(
                    series=mask_tail(data.passport.series, 2),
                    number=mask_tail(data.passport.number, 2),
                ),
                "oms_policy": mask_tail(data.oms_policy) if data.oms_policy else None,
                "inn": mask_tail(data.inn) if data.inn else None,
            }
        )


class Contacts(BaseModel):
    phone: str | None
    email: str | None


class InternalUser(BaseModel):
    """What another service may know of a user: readiness, role, name, confirmed contacts,
    and the region of the registration address (notifications' quiet hours are in its time
    zone; null before the personal data is entered)."""

    user_id: str
    role: str
    status: Status
    ready: bool
    organization_id: str | None
    last_name: str
    first_name: str
    middle_name: str | None
    contacts: Contacts
    region_code: str | None = None

    @classmethod
    def of(cls, user: User) -> InternalUser:
        person, data = user.person, user.personal_data
        return cls(
            user_id=user.id,
            role=user.role,
            status=user.status,
            ready=user.status is Status.READY,
            organization_id=user.organization_id,
            last_name=person.last_name,
            first_name=person.first_name,
            middle_name=person.middle_name,
            contacts=Contacts(
                phone=person.phone if user.contacts["sms"].verified else None,
                email=person.email if user.contacts["email"].verified else None,
            ),
            region_code=None if data is None else data.registration_address.region_code,
        )


class BookHolder(BaseModel):
    """What a medical book shows of its holder (for the records service)."""

    user_id: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    snils: str
    region_code: str

    @classmethod
    def of(cls, user: User) -> BookHolder:
        person, data = user.person, user.personal_data
        # A citizen with personal data (``Identity.book_holder`` saw to it).
        assert person.birth_date is not None
        assert person.snils is not None
        assert data is not None
        return cls(
            user_id=user.id,
            last_name=person.last_name,
            first_name=person.first_name,
            middle_name=person.middle_name,
            birth_date=person.birth_date,
            snils=person.snils,
            region_code=data.registration_address.region_code,
        )


class Jwk(BaseModel):
    kty: Literal["OKP"] = "OKP"
    crv: Literal["Ed25519"] = "Ed25519"
    x: str
    kid: str
    alg: Literal["EdDSA"] = "EdDSA"
    use: Literal["sig"] = "sig"


class Jwks(BaseModel):
    keys: list[Jwk]

    @classmethod
    def of(cls, published: list[PublishedKey]) -> Jwks:
        return cls(keys=[Jwk(x=k.x, kid=k.kid) for k in published])


# --- who saw my data ---------------------------------------------------------------------------


class AccessActor(BaseModel):
    role: str = Field(description="The role's code (`operator`, `medical_worker`, …).")
    role_label: str
    organization_id: str | None
    name: str | None = Field(description="A staff member's name, when identity knows it.")


class AccessItem(BaseModel):
    id: str = Field(description="The access's id in its service's journal.")
    at: datetime
    service: str
    service_label: str
    actor: AccessActor
    resource: str
    resource_label: str
    subject_id: str | None
    action: str
    action_label: str
    reason: str | None
    reason_unavailable: bool = Field(
        description="The service keeping the reason did not answer: try again later."
    )

    @classmethod
    def of(cls, seen: Seen) -> AccessItem:
        a = seen.access
        return cls(
            id=a.id,
            at=a.at,
            service=a.service,
            service_label=label(SERVICE_LABELS, a.service),
            actor=AccessActor(
                role=a.actor_role,
                role_label=label(ROLE_LABELS, a.actor_role),
                organization_id=a.organization_id,
                name=seen.actor_name,
            ),
            resource=a.resource,
            resource_label=label(RESOURCE_LABELS, a.resource),
            subject_id=a.subject_id,
            action=a.action,
            action_label=label(ACTION_LABELS, a.action),
            reason=seen.reason,
            reason_unavailable=seen.reason_unavailable,
        )


class AccessLogPage(BaseModel):
    items: list[AccessItem]
    next: str | None = Field(description="Pass as `before` for the next (older) page.")

    @classmethod
    def of(cls, page: SeenPage) -> AccessLogPage:
        return cls(items=[AccessItem.of(s) for s in page.items], next=page.next)
