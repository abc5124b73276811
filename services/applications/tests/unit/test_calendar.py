"""Deadline arithmetic on the real Russian production calendar.

Every expected date below was counted by hand on the published 2025/2026 calendars:
2025-11-01 (Sat) worked, 2025-11-03 and 2025-11-04 off; 2025-12-31 off (transfer);
2026-01-01…08 holidays, 2026-01-09 off (transfer); 2026-02-23 and 2026-03-09 off.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from applications.domain.calendar import (
    DeadlinePolicy,
    Period,
    ProductionCalendar,
    answer_due,
    expires_at,
    moscow_date,
    review_due,
)

CALENDAR = ProductionCalendar()
POLICY = DeadlinePolicy()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 11, 1), True),  # Saturday, worked instead of 2025-11-03
        (date(2025, 11, 3), False),
        (date(2025, 11, 4), False),  # Unity Day
        (date(2025, 12, 30), True),
        (date(2025, 12, 31), False),  # Wednesday, transferred day off
        (date(2026, 1, 8), False),
        (date(2026, 1, 9), False),  # Friday, transferred day off
        (date(2026, 1, 10), False),  # an ordinary Saturday
        (date(2026, 1, 12), True),
        (date(2026, 3, 9), False),  # 8 March fell on a Sunday
    ],
)
def test_working_days_follow_the_production_calendar(day: date, working: bool) -> None:
    assert CALENDAR.is_working_day(day) is working


@pytest.mark.parametrize(
    ("submitted_on", "due"),
    [
        # Tue; 31.12 and 1–9.01 off, 10–11.01 weekend: 12, 13, 14, 15, 16 January.
        (date(2025, 12, 30), date(2026, 1, 16)),
        # A holiday: 9.01 off, weekend, then 12–16 January.
        (date(2026, 1, 8), date(2026, 1, 16)),
        # The working Saturday itself: 3 and 4 November off → 5, 6, 7, 10, 11.
        (date(2025, 11, 1), date(2025, 11, 11)),
        # Friday before the working Saturday: 1.11 counts → 1, 5, 6, 7, 10.
        (date(2025, 10, 31), date(2025, 11, 10)),
        # Friday before a weekend and 23 February: 24, 25, 26, 27 February, 2 March.
        (date(2026, 2, 20), date(2026, 3, 2)),
        # Friday before a weekend and the observed 8 March: 10, 11, 12, 13, 16 March.
        (date(2026, 3, 6), date(2026, 3, 16)),
        # An ordinary Monday: the day of submission is not counted.
        (date(2026, 2, 2), date(2026, 2, 9)),
    ],
)
def test_standard_review_is_five_working_days(submitted_on: date, due: date) -> None:
    assert review_due(CALENDAR, POLICY, submitted_on, clarified=False) == due


def test_a_clarification_makes_it_ten_working_days_from_submission() -> None:
    # 12–16 and 19–23 January.
    assert review_due(CALENDAR, POLICY, date(2025, 12, 30), clarified=True) == date(2026, 1, 23)


PEAK = ProductionCalendar(peak_periods=[Period(date(2026, 1, 12), date(2026, 1, 31))])


def test_peak_period_gives_fifteen_working_days() -> None:
    # 13–16, 19–23, 26–30 January, 2 February.
    assert review_due(PEAK, POLICY, date(2026, 1, 12), clarified=False) == date(2026, 2, 2)


def test_a_clarification_does_not_shorten_a_peak_deadline() -> None:
    assert review_due(PEAK, POLICY, date(2026, 1, 12), clarified=True) == date(2026, 2, 2)


def test_peak_is_judged_by_the_day_of_submission_and_includes_both_ends() -> None:
    assert PEAK.is_peak(date(2026, 1, 12))
    assert PEAK.is_peak(date(2026, 1, 31))
    assert not PEAK.is_peak(date(2026, 1, 11))
    assert not PEAK.is_peak(date(2026, 2, 1))
    # Submitted the day before the peak: the standard 5 days (12–16 January).
    assert review_due(PEAK, POLICY, date(2026, 1, 11), clarified=False) == date(2026, 1, 16)


def test_a_period_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Period(date(2026, 2, 1), date(2026, 1, 31))


@pytest.mark.parametrize(
    ("requested_on", "due"),
    [
        (date(2026, 1, 8), date(2026, 1, 14)),  # holidays, then 12, 13, 14 January
        (date(2026, 2, 20), date(2026, 2, 26)),  # weekend and 23 February: 24, 25, 26
        (date(2025, 10, 31), date(2025, 11, 6)),  # 1 November counts: 1, 5, 6
    ],
)
def test_the_applicant_has_three_working_days_to_answer(requested_on: date, due: date) -> None:
    assert answer_due(CALENDAR, POLICY, requested_on) == due


def test_an_override_makes_a_day_off_a_working_day() -> None:
    calendar = ProductionCalendar({date(2026, 1, 9): True})
    assert calendar.is_working_day(date(2026, 1, 9))
    # 9, 12, 13, 14, 15 January.
    assert review_due(calendar, POLICY, date(2025, 12, 30), clarified=False) == date(2026, 1, 15)


def test_an_override_makes_a_working_day_a_day_off() -> None:
    calendar = ProductionCalendar({date(2026, 2, 24): False})
    assert not calendar.is_working_day(date(2026, 2, 24))
    # 25, 26, 27 February, 2, 3 March.
    assert review_due(calendar, POLICY, date(2026, 2, 20), clarified=False) == date(2026, 3, 3)


def test_an_override_changes_only_its_own_calendar() -> None:
    ProductionCalendar({date(2026, 1, 9): True})
    assert not CALENDAR.is_working_day(date(2026, 1, 9))


def test_zero_days_is_the_start_and_negative_days_are_refused() -> None:
    assert CALENDAR.add_working_days(date(2026, 1, 8), 0) == date(2026, 1, 8)
    with pytest.raises(ValueError, match="negative"):
        CALENDAR.add_working_days(date(2026, 1, 8), -1)


def test_a_calendar_without_working_days_does_not_loop_for_ever() -> None:
    start = date(2026, 1, 1)
    no_work = ProductionCalendar({start + timedelta(days=i): False for i in range(1, 4000)})
    with pytest.raises(ValueError, match="no 1 working days"):
        no_work.add_working_days(start, 1)


def test_a_custom_policy_is_honoured() -> None:
    policy = DeadlinePolicy(review_days=1, answer_days=1)
    assert review_due(CALENDAR, policy, date(2025, 12, 30), clarified=False) == date(2026, 1, 12)
    assert answer_due(CALENDAR, policy, date(2025, 10, 31)) == date(2025, 11, 1)


def test_a_deadline_expires_at_midnight_moscow_time_after_the_due_day() -> None:
    at = expires_at(date(2026, 1, 16))
    assert at == datetime(2026, 1, 16, 21, 0, tzinfo=UTC)
    assert at.utcoffset() == timedelta(0)
    # One second earlier it is still 23:59:59 of the due day in Moscow.
    assert moscow_date(at - timedelta(seconds=1)) == date(2026, 1, 16)
    assert moscow_date(at) == date(2026, 1, 17)


@pytest.mark.parametrize(
    ("at", "day"),
    [
        (datetime(2025, 12, 30, 21, 30, tzinfo=UTC), date(2025, 12, 31)),
        (datetime(2025, 12, 30, 20, 59, 59, tzinfo=UTC), date(2025, 12, 30)),
        (datetime(2025, 12, 31, 0, 30, tzinfo=UTC), date(2025, 12, 31)),
    ],
)
def test_moscow_date_is_three_hours_ahead_of_utc(at: datetime, day: date) -> None:
    assert moscow_date(at) == day


def test_moscow_date_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        moscow_date(datetime(2025, 12, 30, 21, 30))
