"""Past dates, birth dates and the passport's issue date around the 14th birthday."""

from __future__ import annotations

from datetime import date

import pytest

from emk_identifiers import InvalidIdentifier, add_years, birth_date, passport_issue_date, past_date

TODAY = date(2025, 9, 1)


def test_past_date() -> None:
    assert past_date(date(2025, 8, 31), today=TODAY) == date(2025, 8, 31)
    assert past_date(TODAY, today=TODAY) == TODAY
    with pytest.raises(InvalidIdentifier) as caught:
        past_date(date(2025, 9, 2), today=TODAY, label="Дата осмотра")
    assert caught.value.code == "future"
    assert caught.value.message == (
        "Дата осмотра: не может быть в будущем — указана 02.09.2025, сегодня 01.09.2025."
    )


@pytest.mark.parametrize(
    ("value", "years", "expected"),
    [
        (date(2008, 2, 29), 14, date(2022, 2, 28)),
        (date(2008, 2, 29), 16, date(2024, 2, 29)),
        (date(2024, 2, 29), -120, date(1904, 2, 29)),
        (date(2025, 2, 28), -120, date(1905, 2, 28)),
        (date(2000, 1, 31), 14, date(2014, 1, 31)),
    ],
)
def test_add_years(value: date, years: int, expected: date) -> None:
    assert add_years(value, years) == expected


@pytest.mark.parametrize("value", [date(1990, 5, 17), TODAY, date(1905, 9, 1), date(2025, 8, 31)])
def test_valid_birth_date(value: date) -> None:
    assert birth_date(value, today=TODAY) == value


def test_birth_date_in_the_future() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        birth_date(date(2025, 9, 2), today=TODAY)
    assert caught.value.code == "future"
    assert caught.value.message.startswith("Дата рождения: не может быть в будущем")


def test_birth_date_more_than_120_years_ago() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        birth_date(date(1905, 8, 31), today=TODAY)
    assert caught.value.code == "too_old"
    assert "01.09.1905" in caught.value.message


@pytest.mark.parametrize(
    ("born", "issued", "ok"),
    [
        (date(2000, 6, 15), date(2014, 6, 14), False),  # the day before the 14th birthday
        (date(2000, 6, 15), date(2014, 6, 15), True),  # the 14th birthday itself
        (date(2000, 6, 15), date(2020, 1, 1), True),
        (date(2000, 6, 15), date(2000, 6, 15), False),
        (date(2000, 6, 15), date(1999, 1, 1), False),  # before birth
        # Born on 29 February: the 14th birthday in a common year is 28 February.
        (date(2008, 2, 29), date(2022, 2, 27), False),
        (date(2008, 2, 29), date(2022, 2, 28), True),
        (date(2008, 2, 29), date(2022, 3, 1), True),
        # 14 years after a leap year is always a common year: 28 February again.
        (date(1996, 2, 29), date(2010, 2, 28), True),
        (date(1996, 2, 29), date(2010, 2, 27), False),
    ],
)
def test_passport_issue_date_and_the_14th_birthday(born: date, issued: date, ok: bool) -> None:
    if ok:
        assert passport_issue_date(issued, birth_date=born, today=TODAY) == issued
        return
    with pytest.raises(InvalidIdentifier) as caught:
        passport_issue_date(issued, birth_date=born, today=TODAY)
    assert caught.value.code == "too_young"
    fourteenth = add_years(born, 14)
    assert caught.value.message == (
        "Паспорт выдаётся с 14 лет: дата выдачи не может быть раньше 14-летия "
        f"({fourteenth:%d.%m.%Y})."
    )


def test_passport_issue_date_in_the_future() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        passport_issue_date(date(2025, 9, 2), birth_date=date(1990, 1, 1), today=TODAY)
    assert caught.value.code == "future"
    assert caught.value.message.startswith("Дата выдачи паспорта: не может быть в будущем")


def test_born_29_february_message_names_28_february() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        passport_issue_date(date(2022, 2, 27), birth_date=date(2008, 2, 29), today=TODAY)
    assert "(28.02.2022)" in caught.value.message
