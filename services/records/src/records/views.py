"""What is shown of a book's records, rendered when they change (not on every read).

The four lists of ``GET /book`` — every record's current version with its signature — are
rendered to JSON when a record is written and kept (encrypted) beside the book, so reading a
book of 300 records costs one decryption and a copy instead of 300 decryptions and a
serialisation of each item. The rest of the page (status, due dates) depends on the day and
is built per read; it is small.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from records.domain.book import RecordVersion
from records.domain.vocabulary import (
    CATEGORIES,
    CONCLUSIONS,
    DISEASES,
    EXAM_TYPES,
    KIND_LABELS,
    RESULTS,
    TESTS,
)

LIST_NAMES = {
    "exam": "exams",
    "vaccination": "vaccinations",
    "lab_result": "lab_results",
    "certification": "certifications",
}
_LABELLED = {
    "kind": KIND_LABELS,
    "exam_type": EXAM_TYPES,
    "conclusion": CONCLUSIONS,
    "category": CATEGORIES,
    "disease": DISEASES,
    "test": TESTS,
    "result": RESULTS,
}
# What the service adds around a signed record in an answer; drop these members, and the
# RFC 8785 form of what is left is exactly what was signed.
ADDED_MEMBERS = ("id", "version", "labels", "organization", "author", "signature", "recorded_at")


def record_item(version: RecordVersion) -> dict[str, Any]:
    labels = {
        name: _LABELLED[name].get(value, value)
        for name, value in version.content.items()
        if name in _LABELLED and isinstance(value, str)
    }
    return {
        "id": version.id,
        "version": version.version,
        **version.content,
        "labels": labels,
        "organization": {"id": version.organization.id, "name": version.organization.name},
        "author": {"user_id": version.author.user_id, "name": version.author.name},
        "signature": {
            "key_id": version.key_id,
            "value": version.signature,
            "canonical_sha256": version.canonical_sha256,
        },
        "recorded_at": version.recorded_at,
    }


def record_lists(current: Iterable[RecordVersion]) -> str:
    """The JSON of ``{"exams": [...], "vaccinations": [...], "lab_results": [...], ...}``."""
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in LIST_NAMES.values()}
    for version in current:
        lists[LIST_NAMES[version.kind]].append(record_item(version))
    return dumps(lists)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_iso)


def joined(head: dict[str, Any], lists: str) -> bytes:
    """One JSON object: the members of ``head`` and those of the rendered ``lists``."""
    return (dumps(head)[:-1] + "," + lists[1:]).encode()


def _iso(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
