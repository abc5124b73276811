"""The production calendar an admin keeps (``/api/v1/applications/calendar``): peak
periods (15 working days to review) and dates that differ from the official calendar."""

from __future__ import annotations

from fastapi import APIRouter

from applications.api.deps import Admin, ApplicationsDep
from applications.api.schemas import CalendarIn, CalendarOut
from emk_common.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/applications/calendar",
    tags=["calendar"],
    responses=problem_responses(403),  # an admin's
)


@router.get("")
async def read(who: Admin, applications: ApplicationsDep) -> CalendarOut:
    return CalendarOut.of(await applications.calendar_settings())


@router.put("")
async def replace(body: CalendarIn, who: Admin, applications: ApplicationsDep) -> CalendarOut:
    saved = await applications.replace_calendar(who, body.periods(), body.to_overrides())
    return CalendarOut.of(saved)
