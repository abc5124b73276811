"""Deadlines in working days of the Russian production calendar, counted in Moscow dates.

The calendar is ``holidays.RU`` (public holidays, the government's transfers of days off
and the working Saturdays they create) with an admin's overrides on top, and the peak
periods an admin declares. A weekday test is not enough: 2025-11-01 is a Saturday people
worked, 2025-12-31 and 2026-01-09 are weekdays nobody did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from holidays.countries.russia import Russia

from emk_common.field_errors import FieldErrors

__all__ = [
    "MOSCOW",
    "CalendarSettings",
    "DeadlinePolicy",
    "Override",
    "Period",
    "ProductionCalendar",
    "answer_due",
    "calendar_settings",
    "expires_at",
    "moscow_date",
    "review_due",
]

MOSCOW = ZoneInfo("Europe/Moscow")

# A deadline search never needs more than a few weeks; this only stops a calendar whose
# overrides declare every day off from looping for ever.
_MAX_SCAN_DAYS = 3660


def moscow_date(at: datetime) -> date:
    """The Moscow calendar date of an aware instant (21:30 UTC is already tomorrow there)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("moscow_date needs an aware datetime")
    return at.astimezone(MOSCOW).date()


@dataclass(frozen=True)
class Period:
    """An inclusive range of dates: ``start`` and ``end`` both belong to it."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a period cannot end ({self.end}) before it starts ({self.start})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@lru_cache(maxsize=16)
def _russia(year: int) -> Russia:
    # One object per year, built on first use and never grown afterwards (expand=False):
    # shared by every calendar and safe to read from several tasks at once.
    # The package ships py.typed but leaves the country constructors unannotated.
    return Russia(years=year, expand=False)  # type: ignore[no-untyped-call]


class ProductionCalendar:
    """Working days: ``holidays.RU`` unless an admin's override says otherwise.

    ``overrides`` maps a date to ``True`` (a working day) or ``False`` (a day off) and wins
    over the package, e.g. when a government decree is newer than the installed data.
    """

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        peak_periods: Sequence[Period] = (),
    ) -> None:
        self._overrides: dict[date, bool] = dict(overrides or {})
        self._peaks: tuple[Period, ...] = tuple(peak_periods)

    def is_working_day(self, day: date) -> bool:
        override = self._overrides.get(day)
        if override is not None:
            return override
        return bool(_russia(day.year).is_working_day(day))

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start``; ``start`` itself is never counted.

        ``days == 0`` gives ``start`` back.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        remaining = days
        scanned = 0
        while remaining:
            day += timedelta(days=1)
            scanned += 1
            if scanned > _MAX_SCAN_DAYS:
                raise ValueError(f"no {days} working days within {_MAX_SCAN_DAYS} days of {start}")
            if self.is_working_day(day):
                remaining -= 1
        return day

    def is_peak(self, day: date) -> bool:
        return any(day in period for period in self._peaks)


@dataclass(frozen=True)
class DeadlinePolicy:
    """How many working days each step may take (DOMAIN.md, «Statuses and deadlines»)."""

    review_days: int = 5
    clarification_review_days: int = 10
    peak_review_days: int = 15
    answer_days: int = 3


def review_due(
    calendar: ProductionCalendar,
    policy: DeadlinePolicy,
    submitted_on: date,
    *,
    clarified: bool,
) -> date:
    """The last day of the review, counted from the Moscow date of submission.

    Standard: ``review_days`` working days after ``submitted_on``; ``peak_review_days`` when
    ``submitted_on`` falls in a declared peak period (the period is judged by the day of
    submission only, so a later declaration does not move a running deadline unless the
    caller recomputes it). Once a clarification has been requested the deadline is
    ``clarification_review_days`` working days from the same submission date — the count
    is not paused while the applicant answers — but never shorter than the deadline it
    replaces: a peak-period application keeps its 15 days, hence
    ``max(days, clarification_review_days)``.
    """
    days = policy.peak_review_days if calendar.is_peak(submitted_on) else policy.review_days
    if clarified:
        days = max(days, policy.clarification_review_days)
    return calendar.add_working_days(submitted_on, days)


def answer_due(calendar: ProductionCalendar, policy: DeadlinePolicy, requested_on: date) -> date:
    """The last day the applicant may answer a clarification requested on ``requested_on``."""
    return calendar.add_working_days(requested_on, policy.answer_days)


def expires_at(due: date) -> datetime:
    """The UTC instant a deadline has passed: 00:00 Moscow time of the day after ``due``.

    The whole of the due day (Moscow time) still counts as in time.
    """
    midnight = datetime.combine(due + timedelta(days=1), time(0), tzinfo=MOSCOW)
    return midnight.astimezone(UTC)


@dataclass(frozen=True)
class Override:
    """A date that differs from the official calendar: a working day or a day off."""

    day: date
    working: bool


@dataclass(frozen=True)
class CalendarSettings:
    """What an admin keeps: peak periods and overrides (sorted by date), and who last did."""

    peak_periods: tuple[Period, ...] = ()
    overrides: tuple[Override, ...] = ()
    updated_at: datetime | None = None
    updated_by: str | None = None

    def calendar(self) -> ProductionCalendar:
        return ProductionCalendar(
            overrides={o.day: o.working for o in self.overrides}, peak_periods=self.peak_periods
        )


def calendar_settings(
    peak_periods: Sequence[tuple[date, date]],
    overrides: Sequence[Override],
    errors: FieldErrors,
) -> CalendarSettings:
    """The settings an admin asks for, adding every period that ends before it starts and
    every date given twice."""
    for i, (start, end) in enumerate(peak_periods):
        if end < start:
            errors.add_sentence(f"peak_periods.{i}.end", "before_start",
                "Конец периода не может быть раньше его начала.",
            )  # fmt: skip
    seen: set[date] = set()
    for i, override in enumerate(overrides):
        if override.day in seen:
            errors.add_sentence(f"overrides.{i}.date", "duplicate",
                f"Дата {override.day:%d.%m.%Y} указана дважды.",
            )  # fmt: skip
        seen.add(override.day)
    errors.raise_if_any()
    return CalendarSettings(
        peak_periods=tuple(Period(start, end) for start, end in peak_periods),
        overrides=tuple(sorted(overrides, key=lambda o: o.day)),
    )
