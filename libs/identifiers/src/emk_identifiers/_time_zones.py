"""The time zone of each subject of the Russian Federation, as an IANA (tz database) name.

Used where a person's local time matters, e.g. the hours in which no SMS is sent to them
(the region of their registration address). Zones are those of the tz database's
``zone1970.tab`` for Russia; a subject is named by the zone of its own clock, not by the
nearest big one (Udmurtia keeps Samara's time, Kemerovo its own ``Asia/Novokuznetsk``
entry). Two subjects span several tz zones; they get their capital's:

- 14 Республика Саха (Якутия): Якутск, ``Asia/Yakutsk`` (MSK+6); its east keeps
  ``Asia/Khandyga`` (MSK+6), ``Asia/Ust-Nera`` (MSK+7) and ``Asia/Srednekolymsk`` (MSK+8).
- 65 Сахалинская область: Южно-Сахалинск, ``Asia/Sakhalin``; the North Kuril Islands are
  ``Asia/Srednekolymsk`` in the database, with the same offset today (MSK+8).

90, 93, 94 and 95 keep Moscow time; 91 and 92 are ``Europe/Simferopol`` (Moscow time too).
"""

from __future__ import annotations

from types import MappingProxyType

from emk_identifiers._regions import REGIONS, region_code

__all__ = ["REGION_TIME_ZONES", "region_time_zone"]

_MOSCOW = "Europe/Moscow"

# Every subject not named here (the rest of the European part) keeps Moscow time.
_BY_ZONE: dict[str, tuple[str, ...]] = {
    "Europe/Kaliningrad": ("39",),
    "Europe/Simferopol": ("91", "92"),
    "Europe/Kirov": ("43",),
    "Europe/Volgograd": ("34",),
    "Europe/Astrakhan": ("30",),
    "Europe/Saratov": ("64",),
    "Europe/Ulyanovsk": ("73",),
    "Europe/Samara": ("18", "63"),
    "Asia/Yekaterinburg": ("02", "45", "56", "59", "66", "72", "74", "86", "89"),
    "Asia/Omsk": ("55",),
    "Asia/Novosibirsk": ("54",),
    "Asia/Barnaul": ("04", "22"),
    "Asia/Tomsk": ("70",),
    "Asia/Novokuznetsk": ("42",),
    "Asia/Krasnoyarsk": ("17", "19", "24"),
    "Asia/Irkutsk": ("03", "38"),
    "Asia/Chita": ("75",),
    "Asia/Yakutsk": ("14", "28"),  # 14: the capital's zone (see above)
    "Asia/Vladivostok": ("25", "27", "79"),
    "Asia/Magadan": ("49",),
    "Asia/Sakhalin": ("65",),  # the capital's zone (see above)
    "Asia/Kamchatka": ("41",),
    "Asia/Anadyr": ("87",),
}

REGION_TIME_ZONES = MappingProxyType(
    {
        code: next((zone for zone, codes in _BY_ZONE.items() if code in codes), _MOSCOW)
        for code in REGIONS
    }
)


def region_time_zone(code: str) -> str:
    """The IANA time zone of the subject with this code (``"54"`` → ``"Asia/Novosibirsk"``).

    Raises :class:`InvalidIdentifier` like :func:`region_code` for a code that is not a
    subject's.
    """
    return REGION_TIME_ZONES[region_code(code)]
