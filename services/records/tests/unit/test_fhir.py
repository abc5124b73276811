"""The FHIR R5 export (``records.fhir``) of books built in memory through the use cases: every
resource validates with ``fhir.resources``, the bundle round-trips, the holder's СНИЛС has the
ru.core system, each signature verifies from the bundle alone, a correction shows the current
version and its history; a medical worker exports only under a grant, and it is logged."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fhir.resources import get_fhir_model_class
from fhir.resources.bundle import Bundle

from emk_common.problems import Problem
from records import fhir
from records.domain.book import Book

from .fakes import CLINIC, OTHER_CLINIC, WORKER_NAME
from .rig import Rig, Signer, certification, exam, staff

Json = dict[str, Any]


@pytest.fixture
def rig() -> Rig:
    return Rig()


def vaccination(book_id: str, **fields: Any) -> Json:
    return {
        "record_id": str(uuid.uuid4()), "kind": "vaccination", "book_id": book_id,
        "disease": "diphtheria", "vaccine": "АДС-М", "series": "A-123", "dose": 1,
        "date": "2026-10-01", **fields,
    }  # fmt: skip


def lab_result(book_id: str, **fields: Any) -> Json:
    return {
        "record_id": str(uuid.uuid4()), "kind": "lab_result", "book_id": book_id,
        "test": "fluorography", "result": "normal", "date": "2026-11-18", **fields,
    }  # fmt: skip


def resources(bundle: Bundle) -> list[Json]:
    return [entry["resource"] for entry in json.loads(fhir.dumps(bundle))["entry"]]


def of_type(bundle: Bundle, resource_type: str) -> list[Json]:
    return [r for r in resources(bundle) if r["resourceType"] == resource_type]


def by_url(bundle: Bundle) -> dict[str, Json]:
    return {e["fullUrl"]: e["resource"] for e in json.loads(fhir.dumps(bundle))["entry"]}


def identified(items: list[Json], record_id: str) -> list[Json]:
    """The resources made from one record (every version)."""
    return [
        r for r in items
        if {"system": fhir.RECORD_SYSTEM, "value": record_id} in r.get("identifier", [])
    ]  # fmt: skip


async def kept_book(rig: Rig) -> tuple[Any, Book, Signer, dict[str, Json]]:
    """A book with one record of each kind (an exam with two documents), written by a
    worker with a grant."""
    holder, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    written = {
        "exam": exam(book.id, document_ids=["doc-1", "doc-2"], recommendations="Наблюдение"),
        "vaccination": vaccination(book.id),
        "lab_result": lab_result(book.id),
        "certification": certification(book.id),
    }
    for record in written.values():
        await rig.write(signer, book, record)
    return holder, await rig.book(book.id), signer, written


async def test_every_resource_validates_and_the_bundle_round_trips(rig: Rig) -> None:
    holder, _, _, _ = await kept_book(rig)
    bundle = await rig.records.own_fhir(holder)
    text = fhir.dumps(bundle)
    again = Bundle.model_validate_json(text)
    assert fhir.dumps(again) == text
    doc = json.loads(text)
    assert (doc["resourceType"], doc["type"]) == ("Bundle", "collection")
    urls = [e["fullUrl"] for e in doc["entry"]]
    assert len(urls) == len(set(urls))
    for entry in doc["entry"]:
        resource = entry["resource"]
        model = get_fhir_model_class(resource["resourceType"])
        assert model.model_validate(resource).model_dump(mode="json") == resource
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
    kinds = {r["resourceType"] for r in resources(bundle)}
    assert kinds >= {
        "Patient", "Organization", "Practitioner", "Encounter", "Observation", "Immunization",
        "ImmunizationRecommendation", "ServiceRequest", "DocumentReference", "Provenance",
        "Binary",
    }  # fmt: skip
    # Every reference resolves inside the bundle.
    for reference in _references(doc):
        assert reference in urls, reference


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


async def test_the_patient_carries_the_snils_with_the_ru_core_system(rig: Rig) -> None:
    holder, book, _, _ = await kept_book(rig)
    [patient] = of_type(await rig.records.own_fhir(holder), "Patient")
    assert {"system": fhir.SNILS_SYSTEM, "value": book.holder.snils} in [
        {k: i[k] for k in ("system", "value")} for i in patient["identifier"]
    ]
    assert fhir.SNILS_SYSTEM == "http://fhir.ru/core/systems/snils"
    assert {"system": fhir.BOOK_NUMBER_SYSTEM, "value": book.number} in [
        {k: i[k] for k in ("system", "value")} for i in patient["identifier"]
    ]
    assert patient["name"][0]["family"] == "Иванов"
    assert patient["name"][0]["given"] == ["Иван", "Иванович"]
    assert patient["birthDate"] == "1990-05-17"


async def test_records_map_to_their_resources_with_russian_labels(rig: Rig) -> None:
    holder, _, _, written = await kept_book(rig)
    bundle = await rig.records.own_fhir(holder)
    items = resources(bundle)
    urls = by_url(bundle)
    exam_id = written["exam"]["record_id"]
    [encounter] = [r for r in identified(items, exam_id) if r["resourceType"] == "Encounter"]
    [conclusion] = [r for r in identified(items, exam_id) if r["resourceType"] == "Observation"]
    assert encounter["type"][0]["coding"][0]["display"] == "Периодический"
    assert encounter["actualPeriod"]["start"] == "2026-11-20"
    provider = urls[encounter["serviceProvider"]["reference"]]
    assert provider["identifier"][0] == {
        "system": fhir.OGRN_SYSTEM, "value": CLINIC, "type": {"text": "ОГРН"}
    }  # fmt: skip
    assert {p["type"][0]["text"] for p in encounter["participant"] if "type" in p} == {
        "терапевт", "дерматовенеролог"
    }  # fmt: skip
    assert conclusion["valueCodeableConcept"]["text"] == "Годен"
    assert conclusion["status"] == "final"
    assert conclusion["effectiveDateTime"] == "2026-11-20"
    assert conclusion["encounter"]["reference"] == f"urn:uuid:{encounter['id']}"
    assert {"text": "Рекомендации: Наблюдение"} in conclusion["note"]
    author = urls[conclusion["performer"][0]["reference"]]
    assert author["name"] == [{"text": WORKER_NAME}]
    documents = [urls[d["reference"]] for d in conclusion["derivedFrom"]]
    assert [d["identifier"][0]["value"] for d in documents] == ["doc-1", "doc-2"]
    assert documents[0]["content"][0]["attachment"]["url"] == (
        f"{rig.settings.public_base_url}/api/v1/documents/doc-1/content"
    )

    [immunization] = of_type(bundle, "Immunization")
    assert immunization["status"] == "completed"
    assert immunization["vaccineCode"]["text"] == "АДС-М"
    assert immunization["lotNumber"] == "A-123"
    applied = immunization["protocolApplied"][0]
    assert (applied["doseNumber"], applied["targetDisease"][0]["text"]) == ("1", "Дифтерия")

    [lab] = identified(items, written["lab_result"]["record_id"])
    assert lab["code"]["text"] == "Флюорография"
    assert lab["category"][0]["coding"][0]["code"] == "imaging"
    assert lab["valueCodeableConcept"]["text"] == "Норма"
    assert lab["interpretation"][0]["coding"][0]["code"] == "N"

    [attestation] = identified(items, written["certification"]["record_id"])
    assert attestation["code"]["text"] == "Гигиеническое обучение и аттестация"
    assert attestation["valueBoolean"] is True
    assert attestation["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "food"

    [status] = [r for r in of_type(bundle, "Observation") if r["code"]["text"].startswith("Ст")]
    assert status["valueCodeableConcept"]["text"] == "Действует"


async def test_due_dates_become_recommendations_and_planned_requests(rig: Rig) -> None:
    holder, book, _, _ = await kept_book(rig)
    bundle = await rig.records.own_fhir(holder)
    [recommendation] = of_type(bundle, "ImmunizationRecommendation")
    due = {r["targetDisease"][0]["coding"][0]["code"]: r for r in recommendation["recommendation"]}
    # diphtheria again in 10 years; food work expects hepatitis A and shigellosis at once
    assert set(due) == {"diphtheria", "hepatitis_a", "shigellosis"}
    assert due["diphtheria"]["dateCriterion"][0]["value"] == "2036-10-01"
    assert due["diphtheria"]["forecastStatus"]["coding"][0]["code"] == "due"
    assert due["hepatitis_a"]["dateCriterion"][0]["value"] == book.issued_on.isoformat()
    assert due["hepatitis_a"]["forecastStatus"]["coding"][0]["code"] == "due"  # its last day
    rig.clock.advance(days=1)
    [later] = of_type(await rig.records.own_fhir(holder), "ImmunizationRecommendation")
    assert {
        r["targetDisease"][0]["coding"][0]["code"]: r["forecastStatus"]["coding"][0]["code"]
        for r in later["recommendation"]
    } == {"diphtheria": "due", "hepatitis_a": "overdue", "shigellosis": "overdue"}
    [immunization] = of_type(bundle, "Immunization")
    assert due["diphtheria"]["supportingImmunization"] == [
        {"reference": f"urn:uuid:{immunization['id']}"}
    ]
    planned = {
        r["code"]["concept"]["coding"][0]["code"]: r for r in of_type(bundle, "ServiceRequest")
    }
    assert planned["periodic_exam"]["occurrencePeriod"]["end"] == "2027-11-20"
    assert planned["attestation"]["occurrencePeriod"]["end"] == "2027-11-21"
    assert planned["attestation"]["code"]["concept"]["text"] == "Гигиеническая аттестация"


async def test_each_signature_verifies_from_the_bundle_alone(rig: Rig) -> None:
    holder, book, signer, written = await kept_book(rig)
    bundle = await rig.records.own_fhir(holder)
    urls = by_url(bundle)
    provenances = of_type(bundle, "Provenance")
    assert len(provenances) == len(written)
    public = Ed25519PublicKey.from_public_bytes(signer.private_key.public_key().public_bytes_raw())
    for provenance in provenances:
        [signature] = provenance["signature"]
        extensions = {e["url"]: e["valueString"] for e in signature["extension"]}
        assert extensions[fhir.KEY_ID_EXTENSION] == signer.key_id
        assert signature["sigFormat"] == "application/octet-stream"
        assert signature["targetFormat"] == "application/json"
        assert signature["who"] == provenance["agent"][0]["who"]
        assert signature["when"] == provenance["recorded"]
        [source] = [e for e in provenance["entity"] if e["role"] == "source"]
        signed = base64.b64decode(urls[source["what"]["reference"]]["data"])
        assert hashlib.sha256(signed).hexdigest() == extensions[fhir.CANONICAL_EXTENSION]
        public.verify(base64.b64decode(signature["data"]), signed)  # raises if it does not hold
        record = json.loads(signed)
        assert record == written[record["kind"]]
        [version] = [v for v in book.records if v.record_id == record["record_id"]]
        raw = base64.urlsafe_b64decode(version.signature + "=" * (-len(version.signature) % 4))
        assert base64.b64decode(signature["data"]) == raw


async def test_a_correction_shows_the_current_version_and_its_history(rig: Rig) -> None:
    holder, book, signer, written = await kept_book(rig)
    first = written["exam"]["record_id"]
    before = [
        r["id"] for r in identified(resources(await rig.records.own_fhir(holder)), first)
        if r["resourceType"] == "Observation"
    ]  # fmt: skip
    correction = exam(
        book.id, replaces=first, reason="Неверно указано заключение",
        conclusion="fit_with_restrictions", restriction="Без ночных смен",
    )  # fmt: skip
    await rig.write(signer, book, correction)
    bundle = await rig.records.own_fhir(holder)
    chain = [r for r in identified(resources(bundle), first) if r["resourceType"] == "Observation"]
    by_version = {r["meta"]["versionId"]: r for r in chain}
    assert set(by_version) == {"1", "2"}
    current, earlier = by_version["2"], by_version["1"]
    assert current["status"] == "corrected"
    assert "tag" not in current["meta"]
    assert current["valueCodeableConcept"]["text"] == "Ограниченно годен"
    assert {"text": "Исправление записи: Неверно указано заключение"} in current["note"]
    assert {"text": "Ограничения: Без ночных смен"} in current["note"]
    assert earlier["status"] == "entered-in-error"
    assert earlier["meta"]["tag"][0]["code"] == "superseded"
    assert earlier["valueCodeableConcept"]["text"] == "Годен"
    assert current["id"] != earlier["id"]
    encounters = [
        r for r in identified(resources(bundle), first) if r["resourceType"] == "Encounter"
    ]
    assert sorted(e["status"] for e in encounters) == ["completed", "entered-in-error"]
    # The current version keeps the record's ids: the same as before the correction.
    assert [current["id"]] == before
    # The Provenance chain: the correction revised the first version.
    [update] = [
        p for p in of_type(bundle, "Provenance")
        if p["activity"]["coding"][0]["code"] == "UPDATE"
    ]  # fmt: skip
    assert f"urn:uuid:{current['id']}" in [t["reference"] for t in update["target"]]
    [revised] = [e for e in update["entity"] if e["role"] == "revision"]
    assert revised["what"]["reference"] == f"urn:uuid:{earlier['id']}"
    assert update["activity"]["text"] == "Исправление записи: Неверно указано заключение"


async def test_a_book_with_no_records_exports_the_holder_and_what_is_due(rig: Rig) -> None:
    holder, book = await rig.issued()
    bundle = await rig.records.own_fhir(holder)
    assert Bundle.model_validate_json(fhir.dumps(bundle))
    kinds = sorted(r["resourceType"] for r in resources(bundle))
    assert kinds == ["Observation", "Patient", "ServiceRequest", "ServiceRequest"]
    [status] = of_type(bundle, "Observation")
    assert status["valueCodeableConcept"]["coding"][0]["code"] == "expired"
    assert status["valueCodeableConcept"]["text"] == "Не действует"
    assert "component" not in status  # no valid_until
    for planned in of_type(bundle, "ServiceRequest"):
        assert planned["occurrencePeriod"]["end"] == book.issued_on.isoformat()


async def test_the_same_book_exports_to_the_same_ids(rig: Rig) -> None:
    holder, _, _, _ = await kept_book(rig)
    first = sorted(by_url(await rig.records.own_fhir(holder)))
    rig.clock.advance(days=1)
    assert sorted(by_url(await rig.records.own_fhir(holder))) == first


async def test_a_worker_exports_only_under_a_grant_and_it_is_logged(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    with pytest.raises(Problem) as caught:
        await rig.records.granted_fhir(signer.who, book.id, None)
    assert caught.value.status == 404
    await rig.open_book(signer, book)
    bundle = await rig.records.granted_fhir(signer.who, book.id, "Осмотр")
    assert of_type(bundle, "Patient")
    assert (signer.who.user_id, "read_fhir", "Осмотр") in rig.store.access_log.actions(book.id)
    stranger = await rig.signer(OTHER_CLINIC)
    with pytest.raises(Problem) as caught:
        await rig.records.granted_fhir(stranger.who, book.id, None)
    assert caught.value.status == 404
    with pytest.raises(Problem) as caught:
        await rig.records.granted_fhir(staff("operator"), book.id, "Проверка")
    assert caught.value.status == 403
