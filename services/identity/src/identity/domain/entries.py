"""What a person enters — a registration, a staff account, personal data — checked against
the rules, every wrong field reported at once (``FieldErrors``), so nobody fixes one field
per attempt. The request models have already checked the shape; these are the rules:
checksums, Cyrillic names, dates relative to today and to the birth date, the password
policy, what a role needs.

Text a person types is taken in Unicode NFC first: «й» and «ё» typed decomposed (и + U+0306,
е + U+0308, as some keyboards, phones and copied text give them) are the same letters, so
they are composed — neither refused as foreign characters nor stored in two spellings.

The identifier library's messages are whole sentences that name the field themselves, so
they are kept as they are rather than prefixed with «Поле «…»:».
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal, TypeVar

import emk_identifiers as ids
from emk_common.field_errors import FieldErrors
from identity.domain.user import Address, Passport, Person, PersonalData, StaffRole

T = TypeVar("T")


@dataclass(frozen=True)
class RegistrationEntry:
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    sex: Literal["M", "F"]
    phone: str
    email: str
    password: str
    snils: str


@dataclass(frozen=True)
class StaffEntry:
    role: StaffRole
    last_name: str
    first_name: str
    middle_name: str | None
    email: str
    phone: str
    password: str
    organization_id: str | None


@dataclass(frozen=True)
class PassportEntry:
    series: str
    number: str
    issued_at: date
    issued_by: str
    division_code: str


@dataclass(frozen=True)
class AddressEntry:
    region_code: str
    postal_code: str | None
    locality: str
    street: str
    house: str
    flat: str | None


@dataclass(frozen=True)
class PersonalDataEntry:
    passport: PassportEntry
    birth_place: str
    registration_address: AddressEntry
    actual_address: AddressEntry | None
    oms_policy: str | None
    inn: str | None


def _run(
    errors: FieldErrors, path: str, validator: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T | None:
    """Run one rule of the identifier library, keeping its failure under ``path``."""
    try:
        return validator(*args, **kwargs)
    except ids.InvalidIdentifier as exc:
        errors.add_sentence(path, exc.code, exc.message)
    except ids.InvalidFields as exc:
        for sub, code, message in exc.errors:
            errors.add_sentence(f"{path}.{sub}", code, message)
    return None


def _valid(value: T | None) -> T:
    """A value whose rule passed (called once no error was found)."""
    if value is None:
        raise AssertionError("a value that passed its rule is missing")
    return value


def _missing(errors: FieldErrors, field: str, message: str) -> None:
    errors.add_sentence(field, "missing", message)


def _composed(text: str) -> str:
    """``text`` in NFC (see the module docstring)."""
    return unicodedata.normalize("NFC", text)


def _names(
    errors: FieldErrors, entry: RegistrationEntry | StaffEntry
) -> tuple[str | None, str | None, str | None]:
    last = _run(
        errors,
        "last_name",
        ids.person_name_part,
        _composed(entry.last_name),
        field="last_name",
        required=True,
    )
    first = _run(
        errors,
        "first_name",
        ids.person_name_part,
        _composed(entry.first_name),
        field="first_name",
        required=True,
    )
    middle = _run(
        errors,
        "middle_name",
        ids.person_name_part,
        _composed(entry.middle_name) if entry.middle_name is not None else None,
        field="middle_name",
        required=False,
    )
    return last, first, middle or None


def _contacts(
    errors: FieldErrors, entry: RegistrationEntry | StaffEntry
) -> tuple[str | None, str | None]:
    phone = _run(errors, "phone", ids.phone, entry.phone)
    email = _run(errors, "email", ids.email, entry.email)
    _run(
        errors,
        "password",
        ids.password_strength,
        entry.password,
        email=email or entry.email,
        phone=phone,
    )
    return phone, email


def citizen(entry: RegistrationEntry, *, today: date) -> Person:
    """The person a registration describes, normalised; ``InvalidFieldsError`` otherwise."""
    errors = FieldErrors()
    last, first, middle = _names(errors, entry)
    phone, email = _contacts(errors, entry)
    birth = _run(errors, "birth_date", ids.birth_date, entry.birth_date, today=today)
    snils = _run(errors, "snils", ids.snils, entry.snils)
    errors.raise_if_any()
    return Person(
        last_name=_valid(last),
        first_name=_valid(first),
        middle_name=middle,
        phone=_valid(phone),
        email=_valid(email),
        birth_date=_valid(birth),
        sex=entry.sex,
        snils=_valid(snils),
    )


def staff(entry: StaffEntry) -> Person:
    """The staff member an admin describes; a medical worker or an employer belongs to an
    organisation."""
    errors = FieldErrors()
    last, first, middle = _names(errors, entry)
    phone, email = _contacts(errors, entry)
    if entry.role in ("medical_worker", "employer") and not entry.organization_id:
        _missing(errors, "organization_id", "Укажите организацию сотрудника.")
    errors.raise_if_any()
    return Person(
        last_name=_valid(last),
        first_name=_valid(first),
        middle_name=middle,
        phone=_valid(phone),
        email=_valid(email),
    )


def _address(errors: FieldErrors, field: str, entry: AddressEntry | None) -> Address | None:
    if entry is None:
        return None
    typed = {key: _composed(v) if isinstance(v, str) else v for key, v in asdict(entry).items()}
    checked = _run(errors, field, ids.address, typed)
    if checked is None:
        return None
    return Address(
        region_code=checked["region_code"],
        locality=checked["locality"],
        street=checked["street"],
        house=checked["house"],
        postal_code=checked.get("postal_code"),
        flat=checked.get("flat"),
    )


def personal_data(entry: PersonalDataEntry, *, birth_date: date, today: date) -> PersonalData:
    """Passport, birth place, addresses, ОМС and ИНН, normalised; the actual address is the
    registration address unless given."""
    errors = FieldErrors()
    passport = entry.passport
    issued_by = _composed(passport.issued_by)
    birth_place = _composed(entry.birth_place)
    series = _run(errors, "passport.series", ids.passport_series, passport.series)
    number = _run(errors, "passport.number", ids.passport_number, passport.number)
    division = _run(errors, "passport.division_code", ids.division_code, passport.division_code)
    _run(
        errors,
        "passport.issued_at",
        ids.passport_issue_date,
        passport.issued_at,
        birth_date=birth_date,
        today=today,
    )
    if not issued_by:
        _missing(errors, "passport.issued_by", "Укажите, кем выдан паспорт.")
    if not birth_place:
        _missing(errors, "birth_place", "Укажите место рождения.")
    registration = _address(errors, "registration_address", entry.registration_address)
    actual = _address(errors, "actual_address", entry.actual_address)
    oms = _run(errors, "oms_policy", ids.oms_policy, entry.oms_policy) if entry.oms_policy else None
    inn = _run(errors, "inn", ids.inn, entry.inn, kind="person") if entry.inn else None
    errors.raise_if_any()
    return PersonalData(
        passport=Passport(
            series=_valid(series),
            number=_valid(number),
            issued_at=passport.issued_at,
            issued_by=issued_by,
            division_code=_valid(division),
        ),
        birth_place=birth_place,
        registration_address=_valid(registration),
        actual_address=actual or _valid(registration),
        oms_policy=oms,
        inn=inn,
    )
