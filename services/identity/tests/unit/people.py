"""What the use-case tests start from: valid entries with contacts of their own, and the steps
every account goes through (registered, contacts confirmed, signed in)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from typing import Any

from emk_identifiers import snils_check_number
from identity.domain.entries import (
    AddressEntry,
    PassportEntry,
    PersonalDataEntry,
    RegistrationEntry,
    StaffEntry,
)
from identity.domain.user import User
from identity.service import Tokens

from .fakes import Rig

PASSWORD = "Тёплый-дождь-в-мае-7"
STAFF_PASSWORD = "Врачебный-пароль-2026"
_NUMBERS = itertools.count(100_000_001)


def registration(**changes: Any) -> RegistrationEntry:
    """A valid registration whose phone, e-mail and СНИЛС no other one has."""
    n = next(_NUMBERS)
    first_nine = f"{n:09d}"
    entry = RegistrationEntry(
        last_name="Петрова",
        first_name="Анна",
        middle_name="Игоревна",
        birth_date=date(1992, 2, 29),
        sex="F",
        phone=f"+79{n:09d}",
        email=f"anna.{n}@example.ru",
        password=PASSWORD,
        snils=f"{first_nine}{snils_check_number(first_nine):02d}",
    )
    return replace(entry, **changes)


def staff_entry(**changes: Any) -> StaffEntry:
    n = next(_NUMBERS)
    entry = StaffEntry(
        role="operator",
        last_name="Иванов",
        first_name="Пётр",
        middle_name=None,
        email=f"staff.{n}@example.ru",
        phone=f"+79{n:09d}",
        password=STAFF_PASSWORD,
        organization_id=None,
    )
    return replace(entry, **changes)


def personal_data(**changes: Any) -> PersonalDataEntry:
    address = AddressEntry(
        region_code="86",
        postal_code=None,
        locality="г. Сургут",
        street="ул. Ленина",
        house="1",
        flat=None,
    )
    entry = PersonalDataEntry(
        passport=PassportEntry(
            series="4509",
            number="123456",
            issued_at=date(2012, 3, 1),
            issued_by="ОВД",
            division_code="770-002",
        ),
        birth_place="г. Москва",
        registration_address=address,
        actual_address=None,
        oms_policy=None,
        inn=None,
    )
    return replace(entry, **changes)


def phone_of(user: User) -> str:
    assert user.person.phone is not None
    return user.person.phone


async def confirmed(r: Rig, entry: RegistrationEntry | None = None) -> User:
    """A citizen who registered and confirmed both contacts, as stored."""
    user = await r.identity.register(entry or registration())
    await r.identity.verify_contact(user.id, "sms", r.courier.last_code(phone_of(user)))
    await r.identity.verify_contact(user.id, "email", r.courier.last_code(user.person.email))
    return r.store.users.users[user.id]


async def ready(r: Rig) -> User:
    """A citizen whose personal data is entered, as stored."""
    user = await confirmed(r)
    await r.identity.set_personal_data(user.id, personal_data())
    return r.store.users.users[user.id]


async def signed_in(r: Rig, login: str, password: str, destination: str) -> Tokens:
    """Password, then the code sent to ``destination``."""
    challenge = await r.identity.login(login, password)
    return await r.identity.verify_login(challenge.id, r.courier.last_code(destination))
