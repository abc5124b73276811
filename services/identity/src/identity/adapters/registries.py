"""The local adapter of the person registry (``identity.ports.PersonRegistry``).

Deployment plugs in the real registry client; the local adapter checks consistency and,
when ``deploy/local/registries/passports.json`` exists, compares with that reference data:
``[{"series", "number", "last_name", "first_name", "middle_name", "birth_date", "valid"}]``.
"""

from __future__ import annotations

import json
from pathlib import Path

from identity.ports import Discrepancy, PersonCheck


class LocalPersonRegistry:
    def __init__(self, directory: Path) -> None:
        self._passports: dict[tuple[str, str], dict[str, object]] = {}
        path = directory / "passports.json"
        if path.is_file():
            for entry in json.loads(path.read_text(encoding="utf-8")):
                self._passports[(str(entry["series"]), str(entry["number"]))] = entry

    async def check(self, person: PersonCheck) -> list[Discrepancy]:
        known = self._passports.get((person.passport_series, person.passport_number))
        if known is None:
            return []
        if not known.get("valid", True):
            return [
                Discrepancy(
                    "passport.number",
                    "registry_invalid",
                    "Паспорт числится недействительным в реестре МВД. "
                    "Проверьте серию и номер или обратитесь в МФЦ.",
                )
            ]
        mismatched = [
            field
            for field, ours in (
                ("last_name", person.last_name),
                ("first_name", person.first_name),
                ("birth_date", person.birth_date.isoformat()),
            )
            if str(known.get(field, ours)).lower() != ours.lower()
        ]
        if mismatched:
            return [
                Discrepancy(
                    "passport.number",
                    "registry_mismatch",
                    "Данные паспорта не совпадают с реестром МВД (ФИО или дата рождения). "
                    "Проверьте паспорт и данные профиля.",
                )
            ]
        return []
