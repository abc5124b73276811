"""HTTP routes of the identity service (prefix ``/api/v1/identity``). Thin: each parses,
asks the use cases (``identity.service``) and renders the answer (``api/schemas.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from emk_common.problems import problem_responses
from identity.api.deps import (
    Admin,
    Citizen,
    CurrentUser,
    IdentityDep,
    LoginLimit,
    RegisterLimit,
    VerifyLimit,
    WhoSawDep,
)
from identity.api.schemas import (
    AccessLogPage,
    AccountStatus,
    ContactCode,
    ContactResend,
    LoginBody,
    LoginChallenge,
    LoginCode,
    PersonalData,
    Profile,
    RefreshBody,
    Registered,
    Registration,
    RotatedKey,
    StaffAccount,
    StaffCreated,
    TokenPair,
    TotpCode,
    TotpEnrolment,
)
from identity.service.accesses import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/identity", tags=["identity"])


@router.post(
    "/register",
    status_code=201,
    dependencies=[RegisterLimit],
    responses=problem_responses(409, 429),
)
async def register(body: Registration, identity: IdentityDep) -> Registered:
    user = await identity.register(body.entry())
    return Registered(user_id=user.id, status=user.status)


@router.post(
    "/contacts/verify", dependencies=[VerifyLimit], responses=problem_responses(404, 409, 429)
)
async def verify_contact(body: ContactCode, identity: IdentityDep) -> AccountStatus:
    return AccountStatus.of(await identity.verify_contact(body.user_id, body.channel, body.code))


@router.post(
    "/contacts/resend",
    status_code=202,
    dependencies=[VerifyLimit],
    responses=problem_responses(404, 409, 429),
)
async def resend(body: ContactResend, identity: IdentityDep) -> Response:
    await identity.resend(body.user_id, body.channel)
    return Response(status_code=202)


@router.post("/login", dependencies=[LoginLimit], responses=problem_responses(401, 403, 429))
async def login(body: LoginBody, identity: IdentityDep) -> LoginChallenge:
    challenge = await identity.login(body.login, body.password)
    return LoginChallenge.of(challenge, identity.settings.otp_ttl_seconds)


@router.post(
    "/login/verify", dependencies=[VerifyLimit], responses=problem_responses(401, 409, 429)
)
async def login_verify(body: LoginCode, identity: IdentityDep) -> TokenPair:
    return TokenPair.of(await identity.verify_login(body.challenge_id, body.code))


@router.post("/token/refresh", responses=problem_responses(401, 409))
async def refresh(body: RefreshBody, identity: IdentityDep) -> TokenPair:
    return TokenPair.of(await identity.refresh(body.refresh_token))


@router.post("/logout", status_code=204)
async def logout(user: CurrentUser, identity: IdentityDep) -> Response:
    await identity.logout(user.session_id, user.user_id)
    return Response(status_code=204)


# Members of the personal data appear once it is entered: unset members are left out.
@router.get(
    "/me",
    response_model=Profile,
    response_model_exclude_unset=True,
    responses=problem_responses(404),
)
async def me(user: CurrentUser, identity: IdentityDep) -> Profile:
    return Profile.of(await identity.require(user.user_id))


@router.get("/me/access-log", responses=problem_responses(403, 422))
async def access_log(
    user: Citizen,
    who_saw: WhoSawDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Accesses a page.")] = (
        DEFAULT_LIMIT
    ),
    before: Annotated[
        str | None, Query(max_length=200, description="The `next` of the previous page.")
    ] = None,
) -> AccessLogPage:
    """Who saw my data: every access to the citizen's data in every service, newest first —
    staff reads with their role, organisation and reason; checks with a share code; medical
    workers' reads and records. A reason its service could not give now is ``null`` with
    ``reason_unavailable``."""
    return AccessLogPage.of(await who_saw.page(user.user_id, limit=limit, before=before))


@router.put("/me/personal-data", responses=problem_responses(403, 404, 409))
async def personal_data(body: PersonalData, user: Citizen, identity: IdentityDep) -> AccountStatus:
    return AccountStatus.of(await identity.set_personal_data(user.user_id, body.entry()))


@router.post("/me/totp", responses=problem_responses(404, 409))
async def start_totp(user: CurrentUser, identity: IdentityDep) -> TotpEnrolment:
    secret, uri = await identity.start_totp(user.user_id)
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


@router.post("/me/totp/confirm", status_code=204, responses=problem_responses(404, 409))
async def confirm_totp(body: TotpCode, user: CurrentUser, identity: IdentityDep) -> Response:
    await identity.confirm_totp(user.user_id, body.code)
    return Response(status_code=204)


@router.post("/staff", status_code=201, responses=problem_responses(403, 409))
async def create_staff(body: StaffAccount, admin: Admin, identity: IdentityDep) -> StaffCreated:
    user = await identity.create_staff(body.entry(), created_by=admin.user_id)
    return StaffCreated(user_id=user.id)


@router.post("/staff/{user_id}/deactivate", status_code=204, responses=problem_responses(403, 409))
async def deactivate_staff(user_id: str, admin: Admin, identity: IdentityDep) -> Response:
    """The account can no longer sign in and every one of its sessions ends now."""
    await identity.deactivate_staff(user_id, admin.user_id)
    return Response(status_code=204)


@router.post("/admin/signing-keys/rotate", responses=problem_responses(403))
async def rotate_keys(admin: Admin, identity: IdentityDep) -> RotatedKey:
    return RotatedKey(kid=await identity.keys.rotate())
