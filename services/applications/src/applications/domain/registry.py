"""What ЕГРЮЛ/ЕГРИП, the state registers of organisations and entrepreneurs, may say about
an employer's ИНН/ОГРН pair, and what the application makes of it (pure: the register
itself is a port, ``ports.Egrul``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from applications.domain.employer import Employer
from emk_common.field_errors import FieldErrors


@dataclass(frozen=True)
class Organisation:
    inn: str
    ogrn: str
    name: str
    legal_address: dict[str, str]
    active: bool = True


class Outcome(StrEnum):
    FOUND = "found"  # this ИНН and this ОГРН are one active organisation
    MISMATCH = "mismatch"  # the registry knows the ИНН or the ОГРН, but not as this pair
    LIQUIDATED = "liquidated"  # the pair is right but the organisation no longer exists
    UNKNOWN = "unknown"  # the registry knows neither number


@dataclass(frozen=True)
class Lookup:
    outcome: Outcome
    organisation: Organisation | None = None  # with FOUND and LIQUIDATED

    @classmethod
    def found(cls, organisation: Organisation) -> Lookup:
        return cls(Outcome.FOUND, organisation)

    @classmethod
    def liquidated(cls, organisation: Organisation) -> Lookup:
        return cls(Outcome.LIQUIDATED, organisation)

    @classmethod
    def mismatch(cls) -> Lookup:
        return cls(Outcome.MISMATCH)

    @classmethod
    def unknown(cls) -> Lookup:
        return cls(Outcome.UNKNOWN)


def _mismatch(ogrn: str) -> str:
    if len(ogrn) == 15:
        return (
            "ИНН и ОГРНИП не принадлежат одному предпринимателю по данным ЕГРИП. "
            "Проверьте оба номера по выписке из ЕГРИП или по документам работодателя."
        )
    return (
        "ИНН и ОГРН не принадлежат одной организации по данным ЕГРЮЛ. "
        "Проверьте оба номера по выписке из ЕГРЮЛ или по документам работодателя."
    )


def _liquidated(ogrn: str) -> str:
    if len(ogrn) == 15:
        return (
            "ИНН работодателя: по данным ЕГРИП предприниматель прекратил деятельность. "
            "Укажите действующего работодателя."
        )
    return (
        "ИНН работодателя: по данным ЕГРЮЛ организация прекратила деятельность "
        "(ликвидирована). Укажите действующего работодателя."
    )


def reconcile(employer: Employer, lookup: Lookup | None, errors: FieldErrors) -> Employer:
    """The employer as the register's answer about its ИНН/ОГРН pair leaves it.

    ``lookup`` is None when the employer lacks the ИНН or the ОГРН (nothing to ask). Found:
    ``name`` and ``legal_address`` become the register's. Mismatch (``employer.ogrn``,
    ``registry_mismatch``) and liquidated (``employer.inn``, ``liquidated``) are refusals.
    ``registry_checked`` is ``True`` only when the register confirmed this very pair, so a
    stale mark never outlives a changed number.
    """
    unchecked = dataclasses.replace(employer, registry_checked=False)
    if lookup is None or not employer.inn or not employer.ogrn:
        return unchecked
    if lookup.outcome is Outcome.FOUND and lookup.organisation is not None:
        return dataclasses.replace(
            employer,
            name=lookup.organisation.name,
            legal_address=dict(lookup.organisation.legal_address),
            registry_checked=True,
        )
    if lookup.outcome is Outcome.MISMATCH:
        errors.add_sentence("employer.ogrn", "registry_mismatch", _mismatch(employer.ogrn))
    elif lookup.outcome is Outcome.LIQUIDATED:
        errors.add_sentence("employer.inn", "liquidated", _liquidated(employer.ogrn))
    return unchecked
