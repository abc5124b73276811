"""Dates a person gives about themselves: birth, passport issue, anything in the past.

``today`` is always passed in (the caller's Moscow date), never read from the clock.
"""

from __future__ import annotations

from datetime import date

from emk_identifiers._common import ru_date
from emk_identifiers._errors import InvalidIdentifier

__all__ = [
    "MAX_AGE_YEARS",
    "PASSPORT_AGE_YEARS",
    "add_years",
    "birth_date",
    "passport_issue_date",
    "past_date",
]

MAX_AGE_YEARS = 120
PASSPORT_AGE_YEARS = 14


def add_years(value: date, years: int) -> date:
    """The same day ``years`` later (or earlier); 29 February becomes 28 February.

    A period counted in years that ends in a month without the day ends on the last day
    of that month (ГК РФ ст. 192 п. 3), so someone born on 29.02.2008 turns 14 on
    28.02.2022.
    """
    try:
        return value.replace(year=value.year + years)
    except ValueError:  # 29 February in a year that is not a leap year
        return value.replace(year=value.year + years, day=28)


def past_date(value: date, *, today: date, label: str = "Дата") -> date:
    """Validate a date that must not be in the future (today is allowed) and return it.

    ``label`` names the date in the message. Code: ``future``.
    """
    if value > today:
        raise InvalidIdentifier(
            "future",
            f"{label}: не может быть в будущем — указана {ru_date(value)}, "
            f"сегодня {ru_date(today)}.",
        )
    return value


def birth_date(value: date, *, today: date) -> date:
    """Validate a date of birth and return it.

    Rules: not in the future (code ``future``) and not more than 120 years before
    ``today`` — no earlier than the same day 120 years ago (code ``too_old``).
    """
    past_date(value, today=today, label="Дата рождения")
    earliest = add_years(today, -MAX_AGE_YEARS)
    if value < earliest:
        raise InvalidIdentifier(
            "too_old",
            f"Дата рождения: не может быть раньше {ru_date(earliest)} "
            f"(более {MAX_AGE_YEARS} лет назад). Проверьте год рождения.",
        )
    return value


def passport_issue_date(issued_at: date, *, birth_date: date, today: date) -> date:
    """Validate the date a passport was issued and return it.

    Rules: not in the future (code ``future``); on or after the holder's 14th birthday
    (code ``too_young``) — a passport is issued from 14; for a birthday on 29 February the
    14th birthday is 28 February (see :func:`add_years`).
    """
    past_date(issued_at, today=today, label="Дата выдачи паспорта")
    fourteenth = add_years(birth_date, PASSPORT_AGE_YEARS)
    if issued_at < fourteenth:
        raise InvalidIdentifier(
            "too_young",
            "Паспорт выдаётся с 14 лет: дата выдачи не может быть раньше 14-летия "
            f"({ru_date(fourteenth)}).",
        )
    return issued_at
