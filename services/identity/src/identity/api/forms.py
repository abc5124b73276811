"""Request bodies and their validation: every wrong field is reported in one 422.

The bodies declare only types; the rules (checksums, Cyrillic names, dates, the password
policy, cross-field checks such as the 14th birthday) run afterwards in one pass, so a
person sees everything to fix at once rather than one field per attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Literal, TypeVar

from pydantic import Field

import emk_identifiers as ids
from emk_common.field_errors import RequestBody
from emk_common.problems import FieldError, Problem

T = TypeVar("T")


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


class Address(RequestBody):
    region_code: str
    postal_code: str | None = None
    locality: str
    street: str
    house: str
    flat: str | None = None


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


class StaffAccount(RequestBody):
    role: Literal["operator", "medical_worker", "employer", "admin"]
    last_name: str = Field(max_length=100)
    first_name: str = Field(max_length=100)
    middle_name: str | None = Field(default=None, max_length=100)
    email: str = Field(max_length=254)
    phone: str = Field(max_length=32)
    password: str = Field(max_length=256)
    organization_id: str | None = Field(default=None, max_length=64)


class Checks:
    """Runs validators, keeping every failure with its field."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def run(self, path: str, validator: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
        try:
            return validator(*args, **kwargs)
        except ids.InvalidIdentifier as exc:
            self.errors.append(FieldError(field=path, code=exc.code, message=exc.message))
        except ids.InvalidFields as exc:
            self.errors.extend(
                FieldError(field=f"{path}.{sub}", code=code, message=message)
                for sub, code, message in exc.errors
            )
        return None

    def add(self, field: str, code: str, message: str) -> None:
        self.errors.append(FieldError(field=field, code=code, message=message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise Problem.validation(self.errors)


def name_parts(checks: Checks, body: Registration | StaffAccount) -> dict[str, str | None]:
    return {
        "last_name": checks.run(
            "last_name", ids.person_name_part, body.last_name, field="last_name", required=True
        ),
        "first_name": checks.run(
            "first_name", ids.person_name_part, body.first_name, field="first_name", required=True
        ),
        "middle_name": checks.run(
            "middle_name",
            ids.person_name_part,
            body.middle_name,
            field="middle_name",
            required=False,
        )
        or None,
    }


def contacts(checks: Checks, body: Registration | StaffAccount) -> tuple[str | None, str | None]:
    phone = checks.run("phone", ids.phone, body.phone)
    email = checks.run("email", ids.email, body.email)
    checks.run(
        "password", ids.password_strength, body.password, email=email or body.email, phone=phone
    )
    return phone, email


def address(checks: Checks, field: str, value: Address | None) -> dict[str, Any] | None:
    if value is None:
        return None
    normalised = checks.run(field, ids.address, value.model_dump())
    return dict(normalised) if normalised is not None else None
