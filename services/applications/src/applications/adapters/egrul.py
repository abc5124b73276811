"""ЕГРЮЛ/ЕГРИП, the state registers of organisations and entrepreneurs, behind a port.

Deployment plugs in a real registry client; the local adapter reads reference data from
``deploy/local/registries/organisations.json``:
``[{"inn", "ogrn", "name", "legal_address": {address}, "active"}]``.

Like identity's local person registry, the local adapter judges only what its reference
data knows: a pair it has never heard of (neither the ИНН nor the ОГРН is in the file) is
``unknown`` and accepted on its checksums alone, so that any well-formed employer can be
used locally; a pair that contradicts the file is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import emk_identifiers as ids
from emk_common.problems import FieldError

__all__ = [
    "Egrul",
    "LocalEgrul",
    "Lookup",
    "Organisation",
    "Outcome",
    "reconcile",
]

FILE_NAME = "organisations.json"


@dataclass(frozen=True)
class Organisation:
    inn: str
    ogrn: str
    name: str
    legal_address: dict[str, Any]
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


class Egrul(Protocol):
    async def find(self, inn: str, ogrn: str) -> Lookup:
        """What the register says about this ИНН and ОГРН/ОГРНИП (both format-checked)."""
        ...


def _organisation(entry: dict[str, Any], position: int) -> Organisation:
    # Reference data with a typo would silently never match: refuse it when loading.
    try:
        return Organisation(
            inn=ids.inn(str(entry["inn"])),
            ogrn=ids.ogrn(str(entry["ogrn"])),
            name=str(entry["name"]).strip(),
            legal_address=dict(ids.address(entry["legal_address"])),
            active=bool(entry.get("active", True)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{FILE_NAME}: entry {position} is not a valid organisation: {exc}"
        ) from exc


class LocalEgrul:
    """The register as the reference file knows it; no file is an empty register."""

    def __init__(self, directory: Path) -> None:
        self._by_inn: dict[str, Organisation] = {}
        self._by_ogrn: dict[str, Organisation] = {}
        path = directory / FILE_NAME
        if path.is_file():
            for position, entry in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                organisation = _organisation(entry, position)
                if organisation.inn in self._by_inn or organisation.ogrn in self._by_ogrn:
                    raise ValueError(f"{FILE_NAME}: entry {position} repeats an ИНН or ОГРН")
                self._by_inn[organisation.inn] = organisation
                self._by_ogrn[organisation.ogrn] = organisation

    @property
    def organisations(self) -> list[Organisation]:
        return list(self._by_ogrn.values())

    async def find(self, inn: str, ogrn: str) -> Lookup:
        by_inn = self._by_inn.get(inn)
        by_ogrn = self._by_ogrn.get(ogrn)
        if by_inn is None and by_ogrn is None:
            return Lookup.unknown()
        if by_inn is None or by_inn is not by_ogrn:
            return Lookup.mismatch()
        if not by_inn.active:
            return Lookup.liquidated(by_inn)
        return Lookup.found(by_inn)


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


async def reconcile(employer: dict[str, Any], registry: Egrul) -> list[FieldError]:
    """Check the employer's ИНН/ОГРН pair with the register; fill in what it knows.

    Only when ``employer`` has both ``inn`` and ``ogrn``. Found: ``name`` and
    ``legal_address`` are overwritten with the register's. Mismatch (``employer.ogrn``,
    ``registry_mismatch``) and liquidated (``employer.inn``, ``liquidated``) are refusals.
    ``employer["registry_checked"]`` is always set: ``True`` only when the register
    confirmed this very pair, so a stale mark never outlives a changed number.
    """
    inn, ogrn = employer.get("inn"), employer.get("ogrn")
    if not inn or not ogrn:
        employer["registry_checked"] = False
        return []
    lookup = await registry.find(inn, ogrn)
    employer["registry_checked"] = lookup.outcome is Outcome.FOUND
    if lookup.outcome is Outcome.FOUND and lookup.organisation is not None:
        employer["name"] = lookup.organisation.name
        employer["legal_address"] = dict(lookup.organisation.legal_address)
        return []
    if lookup.outcome is Outcome.MISMATCH:
        return [
            FieldError(
                field="employer.ogrn",
                code="registry_mismatch",
                message=_mismatch(ogrn),
            )
        ]
    if lookup.outcome is Outcome.LIQUIDATED:
        return [
            FieldError(
                field="employer.inn",
                code="liquidated",
                message=_liquidated(ogrn),
            )
        ]
    return []
