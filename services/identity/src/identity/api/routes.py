"""HTTP routes of the identity service (prefix ``/api/v1/identity``)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

import emk_identifiers as ids
from emk_common.field_errors import RequestBody
from identity.api import forms
from identity.api.deps import (
    Admin,
    AppDep,
    Citizen,
    CurrentUser,
    LoginLimit,
    RegisterLimit,
    VerifyLimit,
)
from identity.domain.users import (
    STATUS_LABELS,
    Status,
    mask_email,
    mask_phone,
    mask_snils,
    mask_tail,
)
from identity.store import now_utc

router = APIRouter(prefix="/api/v1/identity", tags=["identity"])


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


class Registered(BaseModel):
    user_id: str
    status: str


@router.post("/register", status_code=201, response_model=Registered, dependencies=[RegisterLimit])
async def register(body: forms.Registration, app: AppDep) -> dict[str, Any]:
    checks = forms.Checks()
    names = forms.name_parts(checks, body)
    phone, email = forms.contacts(checks, body)
    birth = checks.run("birth_date", ids.birth_date, body.birth_date, today=now_utc().date())
    snils = checks.run("snils", ids.snils, body.snils)
    checks.raise_if_any()
    person = {
        **names,
        "birth_date": (birth or body.birth_date).isoformat(),
        "sex": body.sex,
        "phone": phone,
        "email": email,
        "snils": snils,
    }
    user_id = await app.accounts.register(person, body.password)
    return {"user_id": user_id, "status": Status.PENDING_CONTACTS}


@router.post("/contacts/verify", dependencies=[VerifyLimit])
async def verify_contact(body: ContactCode, app: AppDep) -> dict[str, str]:
    status = await app.accounts.verify_contact(body.user_id, body.channel, body.code)
    return {"status": status, "status_label": STATUS_LABELS[Status(status)]}


@router.post("/contacts/resend", status_code=202, dependencies=[VerifyLimit])
async def resend(body: ContactResend, app: AppDep) -> Response:
    await app.accounts.resend(body.user_id, body.channel)
    return Response(status_code=202)


@router.post("/login", dependencies=[LoginLimit])
async def login(body: LoginBody, app: AppDep) -> dict[str, Any]:
    return await app.login.start(body.login, body.password)


@router.post("/login/verify", dependencies=[VerifyLimit])
async def login_verify(body: LoginCode, app: AppDep) -> dict[str, Any]:
    return await app.login.verify(body.challenge_id, body.code)


@router.post("/token/refresh")
async def refresh(body: RefreshBody, app: AppDep) -> dict[str, Any]:
    return await app.login.refresh(body.refresh_token)


@router.post("/logout", status_code=204)
async def logout(user: CurrentUser, app: AppDep) -> Response:
    await app.login.logout(user.session_id, user.user_id)
    return Response(status_code=204)


@router.get("/me")
async def me(user: CurrentUser, app: AppDep) -> dict[str, Any]:
    doc = await app.accounts.require(user.user_id)
    person = app.accounts.vault.open(doc["_id"], doc["pii"])
    status = Status(doc["status"])
    profile: dict[str, Any] = {
        "user_id": doc["_id"],
        "role": doc["role"],
        "status": status,
        "status_label": STATUS_LABELS[status],
        "last_name": person["last_name"],
        "first_name": person["first_name"],
        "middle_name": person.get("middle_name"),
        "birth_date": person.get("birth_date"),
        "sex": person.get("sex"),
        "phone": mask_phone(person["phone"]) if person.get("phone") else None,
        "email": mask_email(person["email"]),
        "snils": mask_snils(person["snils"]) if person.get("snils") else None,
        "contacts_verified": {c: v["verified"] for c, v in doc["contacts"].items()},
        "two_factor": "totp"
        if doc.get("totp")
        else ("sms" if doc["role"] == "citizen" else "email"),
        "organization_id": doc.get("organization_id"),
    }
    if doc.get("personal_data"):
        data = app.accounts.vault.open(doc["_id"], doc["personal_data"], part="personal_data")
        profile["passport"] = {
            "series": mask_tail(data["passport"]["series"], 2),
            "number": mask_tail(data["passport"]["number"], 2),
        }
        profile["oms_policy"] = mask_tail(data["oms_policy"]) if data.get("oms_policy") else None
        profile["inn"] = mask_tail(data["inn"]) if data.get("inn") else None
    return profile


@router.put("/me/personal-data")
async def personal_data(body: forms.PersonalData, user: Citizen, app: AppDep) -> dict[str, str]:
    doc = await app.accounts.personal_data_owner(user.user_id)
    person = app.accounts.vault.open(doc["_id"], doc["pii"])
    checks = forms.Checks()
    today = now_utc().date()
    passport = body.passport
    series = checks.run("passport.series", ids.passport_series, passport.series)
    number = checks.run("passport.number", ids.passport_number, passport.number)
    division = checks.run("passport.division_code", ids.division_code, passport.division_code)
    checks.run(
        "passport.issued_at",
        ids.passport_issue_date,
        passport.issued_at,
        birth_date=date.fromisoformat(person["birth_date"]),
        today=today,
    )
    if not passport.issued_by:
        checks.add("passport.issued_by", "missing", "Укажите, кем выдан паспорт.")
    if not body.birth_place:
        checks.add("birth_place", "missing", "Укажите место рождения.")
    registration = forms.address(checks, "registration_address", body.registration_address)
    actual = forms.address(checks, "actual_address", body.actual_address)
    oms = checks.run("oms_policy", ids.oms_policy, body.oms_policy) if body.oms_policy else None
    inn = checks.run("inn", ids.inn, body.inn, kind="person") if body.inn else None
    checks.raise_if_any()
    data = {
        "passport": {
            "series": series,
            "number": number,
            "issued_at": passport.issued_at.isoformat(),
            "issued_by": passport.issued_by,
            "division_code": division,
        },
        "birth_place": body.birth_place,
        "registration_address": registration,
        "actual_address": actual or registration,
        "oms_policy": oms,
        "inn": inn,
    }
    status = await app.accounts.set_personal_data(user.user_id, data)
    return {"status": status, "status_label": STATUS_LABELS[Status(status)]}


@router.post("/me/totp")
async def start_totp(user: CurrentUser, app: AppDep) -> dict[str, str]:
    return await app.accounts.start_totp(user.user_id)


@router.post("/me/totp/confirm", status_code=204)
async def confirm_totp(body: TotpCode, user: CurrentUser, app: AppDep) -> Response:
    await app.accounts.confirm_totp(user.user_id, body.code)
    return Response(status_code=204)


@router.post("/staff", status_code=201)
async def create_staff(body: forms.StaffAccount, admin: Admin, app: AppDep) -> dict[str, str]:
    checks = forms.Checks()
    names = forms.name_parts(checks, body)
    phone, email = forms.contacts(checks, body)
    if body.role in ("medical_worker", "employer") and not body.organization_id:
        checks.add("organization_id", "missing", "Укажите организацию сотрудника.")
    checks.raise_if_any()
    person = {**names, "phone": phone, "email": email}
    user_id = await app.accounts.register(
        person,
        body.password,
        role=body.role,
        organization_id=body.organization_id,
        created_by=admin.user_id,
    )
    return {"user_id": user_id}


@router.post("/staff/{user_id}/deactivate", status_code=204)
async def deactivate_staff(user_id: str, admin: Admin, app: AppDep) -> Response:
    """The account can no longer sign in and every one of its sessions ends now."""
    await app.accounts.deactivate_staff(user_id, admin.user_id)
    await app.login.sessions.revoke_all(user_id)
    return Response(status_code=204)


@router.post("/admin/signing-keys/rotate")
async def rotate_keys(admin: Admin, app: AppDep) -> dict[str, str]:
    return {"kid": await app.keys.rotate()}
