"""The local adapter of ЕГРЮЛ/ЕГРИП (``ports.Egrul``), the state registers of organisations
and entrepreneurs.

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
from pathlib import Path
from typing import Any

import emk_identifiers as ids
from applications.domain.registry import Lookup, Organisation

FILE_NAME = "organisations.json"


def _organisation(entry: dict[str, Any], position: int) -> Organisation:
    # Reference data with a typo would silently never match: refuse it when loading.
    try:
        return Organisation(
            inn=ids.inn(str(entry["inn"])),
            ogrn=ids.ogrn(str(entry["ogrn"])),
            name=str(entry["name"]).strip(),
            legal_address={k: str(v) for k, v in ids.address(entry["legal_address"]).items()},
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
