"""The local registry of medical organisations: ``medical_organisations.json`` under the
registries directory (ОГРН, name, region, the exams its licence covers)."""

from __future__ import annotations

import json
from pathlib import Path

from records.ports import MedicalOrganisation


class LocalMedicalOrganisations:
    def __init__(self, directory: Path) -> None:
        path = directory / "medical_organisations.json"
        entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        self._by_ogrn = {
            e["ogrn"]: MedicalOrganisation(
                ogrn=e["ogrn"],
                name=e["name"],
                region_code=e["region_code"],
                licensed_exams=frozenset(e.get("licensed_exams", [])),
            )
            for e in entries
        }

    def get(self, ogrn: str) -> MedicalOrganisation | None:
        return self._by_ogrn.get(ogrn)
