"""The time zone of each subject: every code has one the tz database knows, and the zones
are those of the subjects' clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from emk_identifiers import REGION_TIME_ZONES, REGIONS, InvalidIdentifier, region_time_zone

# A summer and a winter day: Russia keeps no daylight saving time since 2014.
JULY = datetime(2026, 7, 1, 12, tzinfo=UTC)
JANUARY = datetime(2026, 1, 15, 12, tzinfo=UTC)


def test_every_subject_has_a_zone_the_tz_database_knows() -> None:
    assert set(REGION_TIME_ZONES) == set(REGIONS)
    for code in REGIONS:
        zone = ZoneInfo(region_time_zone(code))  # raises if the database does not know it
        # Every Russian zone is between UTC+2 (Kaliningrad) and UTC+12 (Kamchatka, Chukotka),
        # the same all year.
        offset = JULY.astimezone(zone).utcoffset()
        assert offset is not None
        assert timedelta(hours=2) <= offset <= timedelta(hours=12), code
        assert JANUARY.astimezone(zone).utcoffset() == offset, code


@pytest.mark.parametrize(
    ("code", "zone", "hours"),
    [
        ("77", "Europe/Moscow", 3),
        ("78", "Europe/Moscow", 3),
        ("50", "Europe/Moscow", 3),
        ("83", "Europe/Moscow", 3),
        ("90", "Europe/Moscow", 3),
        ("93", "Europe/Moscow", 3),
        ("94", "Europe/Moscow", 3),
        ("95", "Europe/Moscow", 3),
        ("91", "Europe/Simferopol", 3),
        ("92", "Europe/Simferopol", 3),
        ("39", "Europe/Kaliningrad", 2),
        ("34", "Europe/Volgograd", 3),
        ("43", "Europe/Kirov", 3),
        ("63", "Europe/Samara", 4),
        ("18", "Europe/Samara", 4),
        ("30", "Europe/Astrakhan", 4),
        ("64", "Europe/Saratov", 4),
        ("73", "Europe/Ulyanovsk", 4),
        ("02", "Asia/Yekaterinburg", 5),
        ("66", "Asia/Yekaterinburg", 5),
        ("89", "Asia/Yekaterinburg", 5),
        ("55", "Asia/Omsk", 6),
        ("54", "Asia/Novosibirsk", 7),
        ("70", "Asia/Tomsk", 7),
        ("22", "Asia/Barnaul", 7),
        ("04", "Asia/Barnaul", 7),
        ("42", "Asia/Novokuznetsk", 7),
        ("24", "Asia/Krasnoyarsk", 7),
        ("17", "Asia/Krasnoyarsk", 7),
        ("38", "Asia/Irkutsk", 8),
        ("03", "Asia/Irkutsk", 8),
        ("75", "Asia/Chita", 9),
        ("14", "Asia/Yakutsk", 9),  # the capital's zone of a subject with several
        ("28", "Asia/Yakutsk", 9),
        ("25", "Asia/Vladivostok", 10),
        ("27", "Asia/Vladivostok", 10),
        ("79", "Asia/Vladivostok", 10),
        ("49", "Asia/Magadan", 11),
        ("65", "Asia/Sakhalin", 11),
        ("41", "Asia/Kamchatka", 12),
        ("87", "Asia/Anadyr", 12),
    ],
)
def test_zone_of_a_subject(code: str, zone: str, hours: int) -> None:
    assert region_time_zone(code) == zone
    assert JULY.astimezone(ZoneInfo(zone)).utcoffset() == timedelta(hours=hours)


def test_the_european_part_keeps_moscow_time() -> None:
    moscow = [code for code, zone in REGION_TIME_ZONES.items() if zone == "Europe/Moscow"]
    for code in ("01", "05", "10", "11", "16", "23", "29", "36", "47", "52", "61", "76"):
        assert code in moscow
    # No subject east of the Urals is on Moscow time.
    for code in ("02", "24", "54", "25", "41"):
        assert code not in moscow


def test_a_code_that_is_no_subjects_is_refused() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        region_time_zone("99")
    assert caught.value.code == "unknown_region"
    assert region_time_zone(" 54 ") == "Asia/Novosibirsk"
