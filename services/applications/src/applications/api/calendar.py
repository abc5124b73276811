"""The production calendar an admin keeps (``/api/v1/applications/calendar``): peak
periods (15 working days to review) and dates that differ from the official calendar."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from applications.api.deps import AppsDep
from applications.domain.application import Actor
from emk_common.auth import Principal, require_roles
from emk_common.field_errors import RequestBody
from emk_common.problems import FieldError, Problem

router = APIRouter(prefix="/api/v1/applications/calendar", tags=["calendar"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]


class PeakPeriod(RequestBody):
    start: date
    end: date


class Override(RequestBody):
    date: date
    working: bool


class CalendarSettings(RequestBody):
    peak_periods: list[PeakPeriod] = Field(default_factory=list, max_length=50)
    overrides: list[Override] = Field(default_factory=list, max_length=400)


@router.get("")
async def read(who: Admin, applications: AppsDep) -> dict[str, Any]:
    return await applications.store.calendar_settings()


@router.put("")
async def replace(body: CalendarSettings, who: Admin, applications: AppsDep) -> dict[str, Any]:
    errors = [
        FieldError(
            field=f"peak_periods.{i}.end",
            code="before_start",
            message="Конец периода не может быть раньше его начала.",
        )
        for i, period in enumerate(body.peak_periods)
        if period.end < period.start
    ]
    seen: set[date] = set()
    for i, override in enumerate(body.overrides):
        if override.date in seen:
            errors.append(
                FieldError(
                    field=f"overrides.{i}.date",
                    code="duplicate",
                    message=f"Дата {override.date:%d.%m.%Y} указана дважды.",
                )
            )
        seen.add(override.date)
    if errors:
        raise Problem.validation(errors)
    await applications.store.save_calendar(
        {
            "peak_periods": [
                {"start": p.start.isoformat(), "end": p.end.isoformat()} for p in body.peak_periods
            ],
            "overrides": [
                {"date": o.date.isoformat(), "working": o.working}
                for o in sorted(body.overrides, key=lambda o: o.date)
            ],
        },
        Actor(user_id=who.user_id, role=who.role),
        applications.clock(),
    )
    return await applications.store.calendar_settings()
