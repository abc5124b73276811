"""The ЕГРЮЛ/ЕГРИП port: the local adapter on the repository's file and on made-up files;
and what an application makes of the register's answer (``domain/registry.py``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

import emk_identifiers as ids
from applications.adapters.egrul import LocalEgrul
from applications.domain.employer import Employer
from applications.domain.registry import Lookup, Organisation, Outcome, reconcile
from emk_common.field_errors import FieldError, FieldErrors

REPO_REGISTRIES = Path(__file__).resolve().parents[4] / "deploy" / "local" / "registries"

CAFE_INN, CAFE_OGRN = "7710543822", "1197746318527"
SCHOOL_INN, SCHOOL_OGRN = "7715382640", "1027739174506"
IP_INN, IP_OGRNIP = "502417349874", "319508100047210"
BAKERY_INN, BAKERY_OGRN = "7814329051", "1157847318628"
# Well-formed numbers the file does not know.
STRANGER_INN, STRANGER_OGRN = "7707083893", "1027700132195"

ADDRESS = {"region_code": "77", "locality": "г. Москва", "street": "ул. Тверская", "house": "1"}


@pytest.fixture(scope="module")
def repo_egrul() -> LocalEgrul:
    return LocalEgrul(REPO_REGISTRIES)


def write(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    (tmp_path / "organisations.json").write_text(json.dumps(entries), encoding="utf-8")
    return tmp_path


def test_the_repository_file_has_the_promised_variety(repo_egrul: LocalEgrul) -> None:
    organisations = repo_egrul.organisations
    assert 4 <= len(organisations) <= 6
    kinds = {ids.ogrn_kind(o.ogrn) for o in organisations}
    assert kinds == {"ogrn", "ogrnip"}
    assert any(not o.active for o in organisations)
    for o in organisations:
        # Loading already validated them; a 12-digit ИНН goes with an ОГРНИП and only then.
        assert (len(o.inn) == 12) == (ids.ogrn_kind(o.ogrn) == "ogrnip"), o.name
        assert o.name
        assert ids.address(o.legal_address) == o.legal_address


async def test_a_known_pair_is_found(repo_egrul: LocalEgrul) -> None:
    lookup = await repo_egrul.find(CAFE_INN, CAFE_OGRN)
    assert lookup.outcome is Outcome.FOUND
    assert lookup.organisation is not None
    assert lookup.organisation.name == "ООО «Кофейня на Тверской»"
    assert (await repo_egrul.find(IP_INN, IP_OGRNIP)).outcome is Outcome.FOUND


@pytest.mark.parametrize(
    ("inn", "ogrn"),
    [
        (CAFE_INN, SCHOOL_OGRN),  # two organisations' numbers
        (CAFE_INN, STRANGER_OGRN),  # a known ИНН with an unknown ОГРН
        (STRANGER_INN, SCHOOL_OGRN),  # an unknown ИНН with a known ОГРН
        (BAKERY_INN, CAFE_OGRN),  # the liquidated one's ИНН, another's ОГРН
    ],
)
async def test_a_pair_the_file_contradicts_is_a_mismatch(
    repo_egrul: LocalEgrul, inn: str, ogrn: str
) -> None:
    assert await repo_egrul.find(inn, ogrn) == Lookup.mismatch()


async def test_a_closed_organisation_is_liquidated(repo_egrul: LocalEgrul) -> None:
    lookup = await repo_egrul.find(BAKERY_INN, BAKERY_OGRN)
    assert lookup.outcome is Outcome.LIQUIDATED
    assert lookup.organisation is not None
    assert not lookup.organisation.active


async def test_numbers_the_file_does_not_know_are_unknown(repo_egrul: LocalEgrul) -> None:
    assert await repo_egrul.find(STRANGER_INN, STRANGER_OGRN) == Lookup.unknown()


async def test_no_file_is_an_empty_register(tmp_path: Path) -> None:
    egrul = LocalEgrul(tmp_path)
    assert egrul.organisations == []
    assert (await egrul.find(CAFE_INN, CAFE_OGRN)).outcome is Outcome.UNKNOWN


async def test_a_file_of_its_own_is_read(tmp_path: Path) -> None:
    egrul = LocalEgrul(
        write(
            tmp_path,
            [{"inn": STRANGER_INN, "ogrn": STRANGER_OGRN, "name": " ООО «Ромашка» ",
              "legal_address": ADDRESS}],
        )
    )  # fmt: skip
    lookup = await egrul.find(STRANGER_INN, STRANGER_OGRN)
    # "active" defaults to true; the name is stripped.
    assert lookup == Lookup.found(
        Organisation(STRANGER_INN, STRANGER_OGRN, "ООО «Ромашка»", ADDRESS)
    )
    assert (await egrul.find(CAFE_INN, CAFE_OGRN)).outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(
    "entry",
    [
        {"inn": "7710543823", "ogrn": CAFE_OGRN, "name": "x", "legal_address": ADDRESS},
        {"inn": CAFE_INN, "ogrn": "1197746318528", "name": "x", "legal_address": ADDRESS},
        {"inn": CAFE_INN, "ogrn": CAFE_OGRN, "name": "x", "legal_address": {"region_code": "80"}},
        {"inn": CAFE_INN, "ogrn": CAFE_OGRN, "legal_address": ADDRESS},
    ],
)
def test_a_wrong_entry_is_refused_when_loading(tmp_path: Path, entry: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="entry 0"):
        LocalEgrul(write(tmp_path, [entry]))


def test_a_repeated_number_is_refused_when_loading(tmp_path: Path) -> None:
    entry = {"inn": CAFE_INN, "ogrn": CAFE_OGRN, "name": "x", "legal_address": ADDRESS}
    with pytest.raises(ValueError, match="entry 1 repeats"):
        LocalEgrul(write(tmp_path, [entry, {**entry, "ogrn": SCHOOL_OGRN}]))


# --- reconcile ------------------------------------------------------------------------------


async def reconciled(employer: Employer, egrul: LocalEgrul) -> tuple[Employer, list[FieldError]]:
    """As the service asks: the register is asked only about a complete pair."""
    errors = FieldErrors()
    lookup = None
    if employer.inn and employer.ogrn:
        lookup = await egrul.find(employer.inn, employer.ogrn)
    return reconcile(employer, lookup, errors), errors.items


async def test_reconcile_fills_in_the_name_and_address_of_a_found_pair(
    repo_egrul: LocalEgrul,
) -> None:
    employer = Employer(
        inn=CAFE_INN,
        ogrn=CAFE_OGRN,
        name="Кофейня",
        legal_address=ADDRESS,
        position="Бариста",
    )
    checked, errors = await reconciled(employer, repo_egrul)
    assert errors == []
    assert checked.name == "ООО «Кофейня на Тверской»"
    assert checked.legal_address is not None
    assert checked.legal_address["postal_code"] == "125009"
    assert checked.legal_address["house"] == "7"
    assert checked.position == "Бариста"
    assert checked.registry_checked is True
    # The employer got a copy: changing it does not change the register.
    checked.legal_address["house"] = "8"
    lookup = await repo_egrul.find(CAFE_INN, CAFE_OGRN)
    assert lookup.organisation is not None
    assert lookup.organisation.legal_address["house"] == "7"


async def test_reconcile_refuses_a_mismatched_pair_on_the_ogrn(repo_egrul: LocalEgrul) -> None:
    employer = Employer(inn=CAFE_INN, ogrn=SCHOOL_OGRN, name="Кофейня")
    checked, errors = await reconciled(employer, repo_egrul)
    assert [(e.field, e.code) for e in errors] == [("employer.ogrn", "registry_mismatch")]
    assert errors[0].message.startswith(
        "ИНН и ОГРН не принадлежат одной организации по данным ЕГРЮЛ"
    )
    assert checked.name == "Кофейня"
    assert checked.registry_checked is False


async def test_reconcile_names_egrip_for_an_entrepreneur(repo_egrul: LocalEgrul) -> None:
    other_ogrnip = "304500116000221"
    _, errors = await reconciled(Employer(inn=IP_INN, ogrn=other_ogrnip), repo_egrul)
    assert [(e.field, e.code) for e in errors] == [("employer.ogrn", "registry_mismatch")]
    assert "ЕГРИП" in errors[0].message


async def test_reconcile_refuses_a_liquidated_organisation_on_the_inn(
    repo_egrul: LocalEgrul,
) -> None:
    checked, errors = await reconciled(Employer(inn=BAKERY_INN, ogrn=BAKERY_OGRN), repo_egrul)
    assert [(e.field, e.code) for e in errors] == [("employer.inn", "liquidated")]
    assert "прекратила деятельность" in errors[0].message
    assert checked.name is None
    assert checked.registry_checked is False


async def test_reconcile_accepts_an_unknown_pair_unconfirmed(repo_egrul: LocalEgrul) -> None:
    employer = Employer(
        inn=STRANGER_INN,
        ogrn=STRANGER_OGRN,
        name="ООО «Ромашка»",
        registry_checked=True,  # left from an earlier pair
    )
    checked, errors = await reconciled(employer, repo_egrul)
    assert errors == []
    assert checked.name == "ООО «Ромашка»"
    assert checked.registry_checked is False


@pytest.mark.parametrize("employer", [{"inn": CAFE_INN}, {"ogrn": CAFE_OGRN}, {}])
async def test_reconcile_needs_both_numbers(
    repo_egrul: LocalEgrul, employer: dict[str, Any]
) -> None:
    before = Employer(**employer)
    checked, errors = await reconciled(before, repo_egrul)
    assert errors == []
    assert checked == dataclasses.replace(before, registry_checked=False)
