"""Dates of the book: Moscow calendar days, and terms counted in years (ГК РФ ст. 192)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from emk_identifiers import add_years

__all__ = ["MOSCOW", "add_years", "days", "moscow_date", "start_of"]

MOSCOW = ZoneInfo("Europe/Moscow")


def moscow_date(at: datetime) -> date:
    return at.astimezone(MOSCOW).date()


def start_of(day: date) -> datetime:
    """The instant a Moscow calendar day begins (an aware datetime)."""
    return datetime.combine(day, time(0), tzinfo=MOSCOW)


def days(n: int) -> timedelta:
    return timedelta(days=n)
