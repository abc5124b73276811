"""The book as a FHIR R5 ``Bundle`` (DOMAIN.md, «FHIR»): a pure mapping, every resource built
with and validated by the ``fhir.resources`` R5 models (a wrong value raises at once).

A ``collection`` bundle, one entry per resource, each ``fullUrl`` an ``urn:uuid:`` whose UUID is
derived from the book and what the resource stands for (UUIDv5) — the same book exports to the
same ids every time, so a receiving system updates what it has instead of duplicating it:

* ``Patient`` — the holder: СНИЛС (``http://fhir.ru/core/systems/snils``, 11 digits), the
  book's number, the name, the birth date;
* ``Organization`` (ОГРН, ``urn:oid:1.2.643.100.1``) and ``Practitioner`` for every record's
  organisation and author;
* ``Observation`` «Статус медицинской книжки» — the status on the day of the export and
  ``valid_until``;
* an exam → ``Encounter`` (the exam type, the specialists, the organisation) + ``Observation``
  (the conclusion «Годен» / «Ограниченно годен» / «Не годен», restriction and recommendations as
  notes); its ``document_ids`` → one ``DocumentReference`` each (the content's URL in the
  documents service);
* a lab or instrumental result → ``Observation`` (category ``laboratory``, fluorography
  ``imaging``; interpretation ``N`` / ``A``);
* a vaccination → ``Immunization`` (the vaccine as text, series as ``lotNumber``, the dose and
  the disease in ``protocolApplied``);
* a hygiene certification → ``Observation`` (``valueBoolean``: passed; the work category as a
  component);
* the due dates → ``ImmunizationRecommendation`` for revaccinations and expected vaccinations,
  ``ServiceRequest`` (``intent: plan``, ``occurrencePeriod.end`` the last valid day) for the
  periodic exam and the attestation;
* every record version → ``Provenance`` with its signature (``Signature.data`` the Ed25519
  signature, standard base64 of the bytes the API shows as base64url; ``sigFormat``
  ``application/octet-stream``: raw signature bytes; the key id, the algorithm and the canonical
  SHA-256 as extensions; ``who`` the author, ``onBehalfOf`` the organisation) and a ``Binary``
  holding exactly the RFC 8785 bytes that were signed (``targetFormat`` ``application/json``):
  anyone can verify a signature from the bundle alone with ``GET /signing-keys/{key_id}``.

Corrections. The current version of a record keeps the record's stable ids, with
``meta.versionId`` its version number (an ``Observation`` of a corrected record is
``corrected``). Every earlier version is in the bundle too, as resources of its own (ids from
the record and the version), ``meta.versionId`` its number, status ``entered-in-error`` (a
correction states that the earlier version was wrong, and nobody counting vaccinations should
count it twice) and the tag ``superseded``. Each version's ``Provenance`` says ``CREATE`` or
``UPDATE`` (with the reason) and points at the version it revised (``entity.role: revision``):
the chain from the first version to the current one.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import rfc8785
from fhir.resources.binary import Binary
from fhir.resources.bundle import Bundle
from fhir.resources.documentreference import DocumentReference
from fhir.resources.encounter import Encounter
from fhir.resources.immunization import Immunization
from fhir.resources.immunizationrecommendation import ImmunizationRecommendation
from fhir.resources.observation import Observation
from fhir.resources.organization import Organization
from fhir.resources.patient import Patient
from fhir.resources.practitioner import Practitioner
from fhir.resources.provenance import Provenance
from fhir.resources.resource import Resource
from fhir.resources.servicerequest import ServiceRequest

from records.domain.book import Author, Book, RecordVersion
from records.domain.book import Organization as RecordOrganization
from records.domain.dates import moscow_date
from records.domain.validity import STATUS_LABELS, Due
from records.domain.vocabulary import (
    CATEGORIES,
    CONCLUSIONS,
    DISEASES,
    DUE_LABELS,
    EXAM_TYPES,
    KIND_LABELS,
    RESULTS,
    TESTS,
)

MEDIA_TYPE: Final = "application/fhir+json"
SNILS_SYSTEM: Final = "http://fhir.ru/core/systems/snils"
OGRN_SYSTEM: Final = "urn:oid:1.2.643.100.1"  # ОГРН, as in Russian qualified certificates
BOOK_NUMBER_SYSTEM: Final = "urn:emk:medical-book-number"
RECORD_SYSTEM: Final = "urn:emk:record"  # a record's id (its first version's record_id)
VERSION_SYSTEM: Final = "urn:emk:record-version"  # one version's own record_id
DOCUMENT_SYSTEM: Final = "urn:emk:document"
USER_SYSTEM: Final = "urn:emk:user"
CODES: Final = "urn:emk:codes:"  # the platform's vocabularies (DOMAIN.md), Russian displays
SUPERSEDED: Final = {"system": f"{CODES}version-state", "code": "superseded",
                     "display": "Заменено исправлением"}  # fmt: skip
KEY_ID_EXTENSION: Final = "urn:emk:fhir:signing-key-id"
ALGORITHM_EXTENSION: Final = "urn:emk:fhir:signature-algorithm"
CANONICAL_EXTENSION: Final = "urn:emk:fhir:canonical-sha256"

_NAMESPACE: Final = uuid.UUID("5b0d7c1e-6f2a-4c3b-9d8e-0a1b2c3d4e5f")
_OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
_INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_FORECAST_STATUS: Final = "http://terminology.hl7.org/CodeSystem/immunization-recommendation-status"
_DATA_OPERATION: Final = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
_PARTICIPANT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_AUTHOR_SIGNATURE: Final = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.1",
    "display": "Author's Signature",
}
_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_INSTRUMENTAL: Final = frozenset({"fluorography"})
_BOOK_STATUS_LABELS: Final = {
    "valid": "Действует",
    "expiring": "Действует, срок истекает в течение 30 дней",
    "expired": "Не действует: истёк срок",
    "suspended": "Не действует: заключение «Не годен»",
}

Json = dict[str, Any]


def book_bundle(book: Book, *, now: datetime, documents_url: str) -> Bundle:
    """The whole book — every record with its history — as one validated ``Bundle``.
    ``documents_url``: where the documents service's ``/{id}/content`` is reached."""
    return _Mapper(book, now, documents_url.rstrip("/")).bundle()


def dumps(bundle: Bundle) -> bytes:
    """The bundle as ``application/fhir+json`` (UTF-8, no empty elements)."""
    return bundle.model_dump_json().encode()


class _Mapper:
    def __init__(self, book: Book, now: datetime, documents_url: str) -> None:
        self.book = book
        self.now = now
        self.today = moscow_date(now)
        self.documents_url = documents_url
        self.entries: list[Resource] = []
        self.seen: set[str] = set()
        self.patient = self.ref(f"{book.id}/patient")

    # --- ids and references ---------------------------------------------------------------

    def uuid(self, key: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, key))

    def ref(self, key: str, display: str | None = None) -> Json:
        reference: Json = {"reference": f"urn:uuid:{self.uuid(key)}"}
        if display:
            reference["display"] = display
        return reference

    def add(self, key: str, resource: Resource) -> None:
        if key not in self.seen:
            self.seen.add(key)
            self.entries.append(resource)

    def bundle(self) -> Bundle:
        self.add_patient()
        self.add_status()
        for record in self.book.current_records():
            versions = self.book.history(record.id)
            for version in versions:
                self.add_version(version, current=version is versions[-1])
        self.add_due(self.book.basis.due)
        return Bundle.model_validate(
            {
                "resourceType": "Bundle",
                "identifier": {"system": BOOK_NUMBER_SYSTEM, "value": self.book.number},
                "type": "collection",
                "timestamp": self.now,
                "entry": [
                    {"fullUrl": f"urn:uuid:{resource.id}", "resource": resource}
                    for resource in self.entries
                ],
            }
        )

    # --- who -------------------------------------------------------------------------------

    def add_patient(self) -> None:
        holder = self.book.holder
        given = [part for part in (holder.first_name, holder.middle_name) if part]
        key = f"{self.book.id}/patient"
        self.add(key, Patient.model_validate({
            "id": self.uuid(key),
            "identifier": [
                {"use": "official", "system": SNILS_SYSTEM, "value": holder.snils,
                 "type": {"text": "СНИЛС"}},
                {"use": "secondary", "system": BOOK_NUMBER_SYSTEM, "value": self.book.number,
                 "type": {"text": "Номер личной медицинской книжки"}},
            ],
            "active": True,
            "name": [{"use": "official", "family": holder.last_name, "given": given,
                      "text": " ".join([holder.last_name, *given])}],
            "birthDate": holder.birth_date,
        }))  # fmt: skip

    def organization(self, organization: RecordOrganization) -> Json:
        key = f"organization/{organization.id}"
        self.add(key, Organization.model_validate({
            "id": self.uuid(key),
            "identifier": [{"system": OGRN_SYSTEM, "value": organization.id,
                            "type": {"text": "ОГРН"}}],
            "active": True,
            "name": organization.name,
        }))  # fmt: skip
        return self.ref(key, organization.name)

    def practitioner(self, author: Author) -> Json:
        key = f"practitioner/{author.user_id}"
        practitioner: Json = {
            "id": self.uuid(key),
            "identifier": [{"system": USER_SYSTEM, "value": author.user_id}],
        }
        if author.name:
            practitioner["name"] = [{"text": author.name}]
        self.add(key, Practitioner.model_validate(practitioner))
        return self.ref(key, author.name)

    # --- the book's status and its due dates -------------------------------------------------

    def add_status(self) -> None:
        status = self.book.status(self.today)
        key = f"{self.book.id}/status"
        observation: Json = {
            "id": self.uuid(key),
            "status": "final",
            "code": {"coding": [{"system": f"{CODES}book", "code": "status",
                                 "display": "Статус медицинской книжки"}],
                     "text": "Статус медицинской книжки"},
            "subject": self.patient,
            "effectiveDateTime": self.now,
            "issued": self.now,
            "valueCodeableConcept": {
                "coding": [{"system": f"{CODES}book-status", "code": status,
                            "display": _BOOK_STATUS_LABELS[status]}],
                "text": STATUS_LABELS[status],
            },
        }  # fmt: skip
        if self.book.valid_until is not None:
            observation["component"] = [
                {"code": {"text": "Действует до"}, "valueDateTime": self.book.valid_until}
            ]
        self.add(key, Observation.model_validate(observation))

    def add_due(self, due: Iterable[Due]) -> None:
        recommendations: list[Json] = []
        for item in due:
            label = DUE_LABELS[item.kind]
            if item.kind == "vaccination":
                recommendations.append(self.recommendation(item, label))
                continue
            key = f"{self.book.id}/due/{item.kind}"
            self.add(key, ServiceRequest.model_validate({
                "id": self.uuid(key),
                "status": "active",
                "intent": "plan",
                "code": {"concept": {
                    "coding": [{"system": f"{CODES}due", "code": item.kind, "display": label}],
                    "text": label,
                }},
                "subject": self.patient,
                "occurrencePeriod": {"end": item.due_date},
                "authoredOn": self.now,
                "note": [{"text": f"{label}: не позднее {item.due_date:%d.%m.%Y}"}],
            }))  # fmt: skip
        if recommendations:
            key = f"{self.book.id}/immunization-recommendation"
            self.add(key, ImmunizationRecommendation.model_validate({
                "id": self.uuid(key),
                "patient": self.patient,
                "date": self.now,
                "recommendation": recommendations,
            }))  # fmt: skip

    def recommendation(self, item: Due, label: str) -> Json:
        disease = item.item or ""
        overdue = item.due_date < self.today
        recommendation: Json = {
            "targetDisease": [_coded("disease", disease, DISEASES)],
            "forecastStatus": {
                "coding": [{"system": _FORECAST_STATUS, "code": "overdue" if overdue else "due"}],
                "text": "Просрочена" if overdue else "Предстоит",
            },
            "dateCriterion": [{
                "code": {"coding": [{"system": "http://loinc.org", "code": "30980-7",
                                     "display": "Date vaccine due"}],
                         "text": "Срок вакцинации"},
                "value": item.due_date,
            }],
            "description": f"{label}: {DISEASES.get(disease, disease)}",
        }  # fmt: skip
        if self.book.logical_id(item.item_id) is not None:
            recommendation["supportingImmunization"] = [self.ref(self.key(item.item_id, "main"))]
        return recommendation

    # --- records ---------------------------------------------------------------------------

    def key(self, record_id: str, role: str, version: int | None = None) -> str:
        """A resource made from a record: the current version's keeps the record's key."""
        tail = "" if version is None else f"/v{version}"
        return f"{self.book.id}/record/{record_id}/{role}{tail}"

    def add_version(self, version: RecordVersion, *, current: bool) -> None:
        at = None if current else version.version
        author = self.practitioner(version.author)
        organization = self.organization(version.organization)
        common: Json = {
            "meta": {"versionId": str(version.version), "lastUpdated": version.recorded_at},
            "identifier": [
                {"system": RECORD_SYSTEM, "value": version.id},
                {"system": VERSION_SYSTEM, "value": version.record_id},
            ],
        }
        if not current:
            common["meta"]["tag"] = [SUPERSEDED]
        content = version.content
        notes = []
        if version.replaces is not None:
            notes.append({"text": f"Исправление записи: {content.get('reason', '')}"})
        targets: list[Json] = []
        main = self.key(version.id, "main", at)
        if version.kind == "exam":
            encounter = self.key(version.id, "encounter", at)
            documents = [self.document(d, encounter) for d in content.get("document_ids", [])]
            self.add(encounter, self.encounter(version, common, author, organization,
                                               current=current, key=encounter))  # fmt: skip
            self.add(main, self.conclusion(version, common, author, organization, notes,
                                           current=current, key=main, encounter=encounter,
                                           documents=documents))  # fmt: skip
            targets = [self.ref(encounter), self.ref(main)]
        elif version.kind == "vaccination":
            self.add(main, self.immunization(version, common, author, organization, notes,
                                             current=current, key=main))  # fmt: skip
            targets = [self.ref(main)]
        elif version.kind == "lab_result":
            self.add(main, self.lab_result(version, common, author, organization, notes,
                                           current=current, key=main))  # fmt: skip
            targets = [self.ref(main)]
        elif version.kind == "certification":
            self.add(main, self.certification(version, common, author, organization, notes,
                                              current=current, key=main))  # fmt: skip
            targets = [self.ref(main)]
        else:  # a kind this mapping does not know: refuse rather than drop it silently
            raise ValueError(f"no FHIR mapping for a record of kind {version.kind!r}")
        self.add_provenance(version, targets, author, organization)

    def observation_status(self, version: RecordVersion, current: bool) -> str:
        if not current:
            return "entered-in-error"
        return "corrected" if version.version > 1 else "final"

    def encounter(
        self, version: RecordVersion, common: Json, author: Json, organization: Json, *,
        current: bool, key: str,
    ) -> Encounter:  # fmt: skip
        content = version.content
        exam_type = str(content.get("exam_type"))
        label = EXAM_TYPES.get(exam_type, exam_type)
        participants: list[Json] = [{"actor": author}]
        participants += [{"type": [{"text": str(name)}]} for name in content.get("specialists", [])]
        return Encounter.model_validate({
            "id": self.uuid(key),
            **common,
            "status": "completed" if current else "entered-in-error",
            "class": [{"coding": [{"system": _ACT_CODE, "code": "AMB", "display": "ambulatory"}]}],
            "type": [{
                "coding": [{"system": f"{CODES}exam-type", "code": exam_type, "display": label}],
                "text": f"{label} медицинский осмотр",
            }],
            "subject": self.patient,
            "participant": participants,
            "actualPeriod": {"start": version.date, "end": version.date},
            "serviceProvider": organization,
        })  # fmt: skip

    def conclusion(
        self, version: RecordVersion, common: Json, author: Json, organization: Json,
        notes: list[Json], *, current: bool, key: str, encounter: str, documents: list[Json],
    ) -> Observation:  # fmt: skip
        content = version.content
        conclusion = str(content.get("conclusion"))
        notes = list(notes)
        if content.get("restriction"):
            notes.append({"text": f"Ограничения: {content['restriction']}"})
        if content.get("recommendations"):
            notes.append({"text": f"Рекомендации: {content['recommendations']}"})
        observation: Json = {
            "id": self.uuid(key),
            **common,
            "status": self.observation_status(version, current),
            "category": [_category("exam", "Exam")],
            "code": {"coding": [{"system": f"{CODES}record", "code": "exam-conclusion",
                                 "display": "Заключение медицинского осмотра"}],
                     "text": f"{KIND_LABELS['exam']}: заключение"},
            "subject": self.patient,
            "encounter": self.ref(encounter),
            "effectiveDateTime": version.date,
            "issued": version.recorded_at,
            "performer": [author, organization],
            "valueCodeableConcept": _coded("conclusion", conclusion, CONCLUSIONS),
        }  # fmt: skip
        if notes:
            observation["note"] = notes
        if documents:
            observation["derivedFrom"] = documents
        return Observation.model_validate(observation)

    def document(self, document_id: str, encounter: str) -> Json:
        key = f"{self.book.id}/document/{document_id}"
        self.add(key, DocumentReference.model_validate({
            "id": self.uuid(key),
            "identifier": [{"system": DOCUMENT_SYSTEM, "value": document_id}],
            "status": "current",
            "type": {"text": "Документ к медицинскому осмотру"},
            "subject": self.patient,
            "context": [self.ref(encounter)],
            "content": [{"attachment": {
                "url": f"{self.documents_url}/{document_id}/content",
                "title": f"Документ {document_id}",
            }}],
        }))  # fmt: skip
        return self.ref(key)

    def immunization(
        self, version: RecordVersion, common: Json, author: Json, organization: Json,
        notes: list[Json], *, current: bool, key: str,
    ) -> Immunization:  # fmt: skip
        content = version.content
        disease = str(content.get("disease"))
        immunization: Json = {
            "id": self.uuid(key),
            **common,
            "status": "completed" if current else "entered-in-error",
            "vaccineCode": {"text": str(content.get("vaccine"))},
            "patient": self.patient,
            "occurrenceDateTime": version.date,
            "primarySource": True,
            "performer": [{"actor": author}, {"actor": organization}],
            "protocolApplied": [{
                "doseNumber": str(content.get("dose")),
                "targetDisease": [_coded("disease", disease, DISEASES)],
            }],
        }  # fmt: skip
        if content.get("series"):
            immunization["lotNumber"] = str(content["series"])
        if notes:
            immunization["note"] = notes
        return Immunization.model_validate(immunization)

    def lab_result(
        self, version: RecordVersion, common: Json, author: Json, organization: Json,
        notes: list[Json], *, current: bool, key: str,
    ) -> Observation:  # fmt: skip
        content = version.content
        test, result = str(content.get("test")), str(content.get("result"))
        category = (
            _category("imaging", "Imaging")
            if test in _INSTRUMENTAL
            else _category("laboratory", "Laboratory")
        )
        observation: Json = {
            "id": self.uuid(key),
            **common,
            "status": self.observation_status(version, current),
            "category": [category],
            "code": _coded("lab-test", test, TESTS),
            "subject": self.patient,
            "effectiveDateTime": version.date,
            "issued": version.recorded_at,
            "performer": [author, organization],
            "valueCodeableConcept": _coded("lab-result", result, RESULTS),
            "interpretation": [{
                "coding": [{"system": _INTERPRETATION, "code": "N" if result == "normal" else "A",
                            "display": "Normal" if result == "normal" else "Abnormal"}],
                "text": RESULTS.get(result, result),
            }],
        }  # fmt: skip
        if notes:
            observation["note"] = notes
        return Observation.model_validate(observation)

    def certification(
        self, version: RecordVersion, common: Json, author: Json, organization: Json,
        notes: list[Json], *, current: bool, key: str,
    ) -> Observation:  # fmt: skip
        content = version.content
        category = str(content.get("category"))
        label = KIND_LABELS["certification"]
        observation: Json = {
            "id": self.uuid(key),
            **common,
            "status": self.observation_status(version, current),
            "code": {"coding": [{"system": f"{CODES}record-kind", "code": "certification",
                                 "display": label}],
                     "text": label},
            "subject": self.patient,
            "effectiveDateTime": version.date,
            "issued": version.recorded_at,
            "performer": [author, organization],
            "valueBoolean": content.get("passed") is True,
            "component": [{
                "code": {"text": "Вид деятельности"},
                "valueCodeableConcept": _coded("category", category, CATEGORIES),
            }],
        }  # fmt: skip
        if notes:
            observation["note"] = notes
        return Observation.model_validate(observation)

    # --- signatures ------------------------------------------------------------------------

    def add_provenance(
        self, version: RecordVersion, targets: list[Json], author: Json, organization: Json
    ) -> None:
        signed = rfc8785.dumps(dict(version.content))
        binary = f"{self.book.id}/record-version/{version.record_id}/signed"
        self.add(binary, Binary.model_validate({
            "id": self.uuid(binary),
            "contentType": "application/json",
            "data": base64.b64encode(signed).decode(),
        }))  # fmt: skip
        entities: list[Json] = [{"role": "source", "what": self.ref(binary)}]
        activity: Json
        if version.version == 1:
            activity = {"coding": [{"system": _DATA_OPERATION, "code": "CREATE",
                                    "display": "create"}], "text": "Запись"}  # fmt: skip
        else:
            previous = self.book.history(version.id)[version.version - 2]
            entities.append(
                {
                    "role": "revision",
                    "what": self.ref(self.key(version.id, "main", previous.version)),
                }
            )
            reason = version.content.get("reason", "")
            activity = {"coding": [{"system": _DATA_OPERATION, "code": "UPDATE",
                                    "display": "revise"}],
                        "text": f"Исправление записи: {reason}"}  # fmt: skip
        key = f"{self.book.id}/record-version/{version.record_id}/provenance"
        self.add(key, Provenance.model_validate({
            "id": self.uuid(key),
            "target": targets,
            "occurredDateTime": version.date,
            "recorded": version.recorded_at,
            "activity": activity,
            "patient": self.patient,
            "agent": [{
                "type": {"coding": [{"system": _PARTICIPANT_TYPE, "code": "author",
                                     "display": "Author"}]},
                "who": author,
                "onBehalfOf": organization,
            }],
            "entity": entities,
            "signature": [{
                "extension": [
                    {"url": KEY_ID_EXTENSION, "valueString": version.key_id},
                    {"url": ALGORITHM_EXTENSION, "valueString": "Ed25519 (RFC 8032) over RFC 8785"},
                    {"url": CANONICAL_EXTENSION, "valueString": version.canonical_sha256},
                ],
                "type": [_AUTHOR_SIGNATURE],
                "when": version.recorded_at,
                "who": author,
                "onBehalfOf": organization,
                "targetFormat": "application/json",
                "sigFormat": "application/octet-stream",
                "data": _standard_base64(version.signature),
            }],
        }))  # fmt: skip


def _coded(system: str, code: str, labels: dict[str, str]) -> Json:
    display = labels.get(code, code)
    return {"coding": [{"system": f"{CODES}{system}", "code": code, "display": display}],
            "text": display}  # fmt: skip


def _category(code: str, display: str) -> Json:
    return {"coding": [{"system": _OBSERVATION_CATEGORY, "code": code, "display": display}]}


def _standard_base64(value: str) -> str:
    """The API's base64url (unpadded) as FHIR's base64Binary (standard, padded)."""
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return base64.b64encode(raw).decode()
