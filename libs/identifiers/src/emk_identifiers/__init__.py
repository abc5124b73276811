"""Validation and normalisation of Russian personal and organisation identifiers.

Pure functions, no I/O except reading the package's own data files. Each validator takes
what the user typed and returns the normalised value, or raises
:class:`InvalidIdentifier` (``code`` in English, ``message`` in Russian); the address
validator raises :class:`InvalidFields` listing every wrong part. In a pydantic validator
raise :func:`as_pydantic_error` / :func:`as_validation_error` of it.
"""

from __future__ import annotations

from emk_identifiers._address import Address, address
from emk_identifiers._dates import add_years, birth_date, passport_issue_date, past_date
from emk_identifiers._email import email, is_disposable_domain
from emk_identifiers._errors import (
    InvalidFields,
    InvalidIdentifier,
    as_pydantic_error,
    as_validation_error,
)
from emk_identifiers._inn import InnKind, inn, inn_check_digit
from emk_identifiers._names import person_name_part
from emk_identifiers._ogrn import OgrnKind, ogrn, ogrn_check_digit, ogrn_kind
from emk_identifiers._oms import oms_policy
from emk_identifiers._passport import division_code, passport_number, passport_series
from emk_identifiers._password import is_common_password, password_strength
from emk_identifiers._phone import phone
from emk_identifiers._regions import REGIONS, region_code, region_name
from emk_identifiers._snils import format_snils, mask_snils, snils, snils_check_number
from emk_identifiers._time_zones import REGION_TIME_ZONES, region_time_zone

__all__ = [
    "REGIONS",
    "REGION_TIME_ZONES",
    "Address",
    "InnKind",
    "InvalidFields",
    "InvalidIdentifier",
    "OgrnKind",
    "add_years",
    "address",
    "as_pydantic_error",
    "as_validation_error",
    "birth_date",
    "division_code",
    "email",
    "format_snils",
    "inn",
    "inn_check_digit",
    "is_common_password",
    "is_disposable_domain",
    "mask_snils",
    "ogrn",
    "ogrn_check_digit",
    "ogrn_kind",
    "oms_policy",
    "passport_issue_date",
    "passport_number",
    "passport_series",
    "password_strength",
    "past_date",
    "person_name_part",
    "phone",
    "region_code",
    "region_name",
    "region_time_zone",
    "snils",
    "snils_check_number",
]
