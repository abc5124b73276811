"""Share codes, the public check (JSON under ``/api/v1/records/verify``, a page for people
at ``/check``) and the employer's list.

The public check needs no sign-in. Its answers are the same for a code that is unknown,
expired or revoked (404 with one body; one neutral page), are never cached, and are limited
per client address. The code is a bearer secret: it is not logged, and traces show the
route's template, not the path (``emk_common.telemetry``).
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, StrictInt, field_validator

import emk_identifiers as ids
from emk_common.field_errors import RequestBody
from emk_common.http import client_ip
from emk_common.problems import Problem, problem_responses
from records.adapters.qr import qr_png
from records.api import check_page
from records.api.deps import Citizen, Employer, RecordsDep
from records.domain.shares import MAX_DAYS, PublicView, Share, ShareChecks
from records.service import Records

router = APIRouter(prefix="/api/v1/records", tags=["sharing"])
pages = APIRouter(tags=["public check page"])
Code = Annotated[str, Path(min_length=1, max_length=64)]
_MINE = problem_responses(401, 403, 404)
_INVALID = "Код недействителен."
_VERIFY_PATH = "/api/v1/records/verify"  # the one ``instance`` of every refusal: no code in it
# A share code in a path is a bearer secret: never in a span or a log line.
SECRET_PATHS = [r"(?<=/verify/)[^/?]+", r"(?<=/check/)[^/?]+", r"(?<=/book/shares/)[^/?]+"]


class ShareIn(RequestBody):
    employer_inn: str | None = Field(
        default=None,
        description="The employer's ИНН: the book appears in its list.",
        json_schema_extra={"pattern": r"^ *[0-9]{10}(?:[0-9]{2})? *$"},  # emk_identifiers.inn
    )
    expires_in_days: StrictInt = Field(ge=1, le=MAX_DAYS)

    @field_validator("employer_inn")
    @classmethod
    def _inn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return ids.inn(value)
        except ids.InvalidIdentifier as exc:
            raise ids.as_pydantic_error(exc) from None


class ShareCreated(BaseModel):
    code: str
    url: str = Field(description="The public check page the QR points at.")
    qr_png: str = Field(description="The QR code of ``url``, a PNG in base64.")
    expires_at: datetime


class ShareItem(BaseModel):
    code: str
    url: str
    employer_inn: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool
    checks: int = Field(description="How many times the book was checked with this code.")
    last_checked_at: datetime | None
    recent_checks: list[datetime] = Field(description="When: the latest 100 checks, oldest first.")


class SharePage(BaseModel):
    items: list[ShareItem]


class PublicCheck(BaseModel):
    valid: bool
    status_label: str
    holder: str = Field(description="The masked name: «Иванов И. И.».")
    book_number: str
    valid_until: date | None
    next_due: date | None
    checked_at: datetime

    @classmethod
    def of(cls, view: PublicView) -> PublicCheck:
        return cls(
            valid=view.valid, status_label=view.status_label, holder=view.holder,
            book_number=view.book_number, valid_until=view.valid_until,
            next_due=view.next_due, checked_at=view.checked_at,
        )  # fmt: skip


class EmployerBook(BaseModel):
    holder: str
    position: str | None
    valid: bool
    status_label: str
    next_due: date | None


class EmployerBooks(BaseModel):
    items: list[EmployerBook]


def _url(records: Records, code: str) -> str:
    return records.check_url(code)


def _item(records: Records, share: Share, checks: ShareChecks) -> ShareItem:
    return ShareItem(
        code=share.code, url=_url(records, share.code), employer_inn=share.employer_inn,
        created_at=share.created_at, expires_at=share.expires_at, revoked_at=share.revoked_at,
        active=share.active(records.clock()), checks=checks.count,
        last_checked_at=checks.last, recent_checks=list(checks.recent),
    )  # fmt: skip


# --- the holder -------------------------------------------------------------------------------


@router.post("/book/shares", status_code=201, responses=problem_responses(401, 403, 404, 409, 422))
async def share(body: ShareIn, who: Citizen, records: RecordsDep) -> ShareCreated:
    """A new share code for the public check (and the employer's list, with its ИНН)."""
    made = await records.share(who, employer_inn=body.employer_inn, days=body.expires_in_days)
    url = _url(records, made.code)
    png = base64.b64encode(qr_png(url)).decode()
    return ShareCreated(code=made.code, url=url, qr_png=png, expires_at=made.expires_at)


@router.get("/book/shares", responses=_MINE)
async def shares(who: Citizen, records: RecordsDep) -> SharePage:
    """The holder's codes, newest first, each with its checks (how many, the last)."""
    return SharePage(items=[_item(records, s, c) for s, c in await records.shares(who)])


@router.delete("/book/shares/{code}", status_code=204, responses=_MINE)
async def unshare(code: Code, who: Citizen, records: RecordsDep) -> Response:
    """Revoked at once: the next check with it is «Код недействителен»."""
    await records.unshare(who, code)
    return Response(status_code=204)


# --- the public check -------------------------------------------------------------------------


async def _limited(request: Request, records: Records) -> float | None:
    settings = records.settings
    return await records.public_check_allowance(
        client_ip(request, settings.trusted_proxies), settings.public_checks_per_minute
    )


@router.get(
    "/verify/{code}",
    responses={200: {"model": PublicCheck}, **problem_responses(404, 429)},
    response_class=JSONResponse,
)
async def verify(code: Code, request: Request, records: RecordsDep) -> Response:
    """Public: whether the book shared with this code is valid, and nothing medical."""
    wait = await _limited(request, records)
    if wait is not None:
        return _with_headers(Problem.rate_limited(wait).to_response(_VERIFY_PATH))
    view = await records.check(code)
    if view is None:
        return _with_headers(Problem.not_found(_INVALID).to_response(_VERIFY_PATH))
    body = PublicCheck.of(view).model_dump_json()
    return _with_headers(Response(body, media_type="application/json"))


@pages.get("/check/{code}", response_class=HTMLResponse, responses={404: {}, 429: {}})
async def check(code: Code, request: Request, records: RecordsDep) -> Response:
    """Public: the same check as a page for people (HTML, Russian, no script)."""
    wait = await _limited(request, records)
    if wait is not None:
        page = HTMLResponse(check_page.too_many_page(), status_code=429)
        page.headers["Retry-After"] = str(max(1, round(wait)))
        return _with_headers(page)
    view = await records.check(code)
    if view is None:
        return _with_headers(HTMLResponse(check_page.invalid_page(), status_code=404))
    return _with_headers(HTMLResponse(check_page.valid_page(view)))


def _with_headers(response: Response) -> Response:
    response.headers.update(check_page.HEADERS)
    return response


# --- the employer -----------------------------------------------------------------------------


@router.get("/employer/books", responses=problem_responses(401, 403, 422))
async def employer_books(
    who: Employer,
    records: RecordsDep,
    due_within_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
) -> EmployerBooks:
    """The books shared with the employer's ИНН: who, in which position, valid or not, and
    when the next exam or attestation is due (soonest first)."""
    listed = await records.employer_books(who, due_within_days=due_within_days)
    items = [
        EmployerBook(holder=i.holder, position=i.position, valid=i.view.valid,
                     status_label=i.view.status_label, next_due=i.view.next_due)
        for i in listed
    ]  # fmt: skip
    return EmployerBooks(items=items)
