"""The shape of an application's MongoDB document: the aggregate to a document and back,
the row a list reads. Only the store package knows these field names."""

from __future__ import annotations

from datetime import date
from typing import Any

from applications.domain.application import Application
from applications.domain.employer import Employer
from applications.domain.parts import (
    Attachment,
    Clarification,
    Consent,
    HistoryEntry,
    IssuedBook,
    Rejection,
    Summary,
)
from applications.domain.statuses import LABELS, Status
from emk_common.crypto import FieldCipher

Doc = dict[str, Any]

# What a list shows: no personal data, no employer details beyond the name.
LIST_FIELDS: Doc = {
    "number": 1,
    "status": 1,
    "status_label": 1,
    "applicant_id": 1,
    "assignee_id": 1,
    "due_date": 1,
    "overdue": 1,
    "submitted_at": 1,
    "created_at": 1,
    "last_changed_at": 1,
    "queue_key": 1,
    "employer.name": 1,
}


def _oms_context(application_id: str) -> str:
    return f"applications:{application_id}:oms_policy"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def entry_of(entry: HistoryEntry) -> Doc:
    return {
        "status": str(entry.status),
        "status_label": LABELS[entry.status],
        "at": entry.at,
        "by": entry.by,
        "by_role": entry.by_role,
        "comment": entry.comment,
    }


def _employer(employer: Employer) -> Doc:
    return {**employer.given(), "registry_checked": employer.registry_checked}


def fields_of(application: Application, cipher: FieldCipher) -> Doc:
    """Every stored field but ``_id``, the history and the version, derived ones included."""
    a = application
    return {
        "applicant_id": a.applicant_id,
        "status": str(a.status),
        "number": a.number,
        "employer": _employer(a.employer),
        "oms_policy": (
            cipher.encrypt(a.oms_policy, context=_oms_context(a.id)) if a.oms_policy else None
        ),
        "consent": (
            {"given_at": a.consent.given_at, "text_version": a.consent.text_version}
            if a.consent
            else None
        ),
        "documents": {
            kind: {"document_id": d.document_id, "attached_at": d.attached_at}
            for kind, d in a.documents.items()
        },
        "created_at": a.created_at,
        "last_changed_at": a.last_changed_at,
        "assignee_id": a.assignee_id,
        "submitted_at": a.submitted_at,
        "submitted_on": _day(a.submitted_on),
        "due_date": _day(a.due_date),
        "overdue": a.overdue,
        "clarified": a.clarified,
        "answer_due": _day(a.answer_due),
        "answered_at": a.answered_at,
        "clarification": (
            {
                "comment": a.clarification.comment,
                "fields": list(a.clarification.fields),
                "documents": list(a.clarification.documents),
                "requested_at": a.clarification.requested_at,
                "requested_by": a.clarification.requested_by,
                "answer_due": _day(a.clarification.answer_due),
            }
            if a.clarification
            else None
        ),
        "rejection": (
            {
                "reason": a.rejection.reason,
                "fields": list(a.rejection.fields),
                "automatic": a.rejection.automatic,
            }
            if a.rejection
            else None
        ),
        "approved_by": a.approved_by,
        "book": {"id": a.book.id, "number": a.book.number} if a.book else None,
        # Derived: what the lists and the scheduler index.
        "status_label": LABELS[a.status],
        "lanes": a.lanes,
        "queue_key": a.queue_key,
        "next_timer_at": a.next_timer(),
    }


def document_of(application: Application, cipher: FieldCipher, *, version: int = 1) -> Doc:
    """The stored document of an application (without pending events)."""
    return {
        "_id": application.id,
        **fields_of(application, cipher),
        "history": [entry_of(h) for h in application.history],
        "version": version,
    }


def application_of(doc: Doc, cipher: FieldCipher) -> Application:
    employer: Doc = doc.get("employer") or {}
    consent, clarification = doc.get("consent"), doc.get("clarification")
    rejection, book = doc.get("rejection"), doc.get("book")
    sealed = doc.get("oms_policy")
    return Application(
        id=doc["_id"],
        applicant_id=doc["applicant_id"],
        status=Status(doc["status"]),
        created_at=doc["created_at"],
        last_changed_at=doc["last_changed_at"],
        history=tuple(
            HistoryEntry(Status(h["status"]), h["at"], h["by"], h["by_role"], h.get("comment"))
            for h in doc.get("history", [])
        ),
        number=doc.get("number"),
        employer=Employer(
            **{k: v for k, v in employer.items() if k != "registry_checked"},
            registry_checked=bool(employer.get("registry_checked")),
        ),
        oms_policy=cipher.decrypt(sealed, context=_oms_context(doc["_id"])) if sealed else None,
        consent=Consent(consent["given_at"], consent["text_version"]) if consent else None,
        documents={
            kind: Attachment(d["document_id"], d["attached_at"])
            for kind, d in (doc.get("documents") or {}).items()
        },
        assignee_id=doc.get("assignee_id"),
        submitted_at=doc.get("submitted_at"),
        submitted_on=_date(doc.get("submitted_on")),
        due_date=_date(doc.get("due_date")),
        overdue=bool(doc.get("overdue")),
        clarified=bool(doc.get("clarified")),
        answer_due=_date(doc.get("answer_due")),
        answered_at=doc.get("answered_at"),
        clarification=(
            Clarification(
                comment=clarification["comment"],
                fields=tuple(clarification["fields"]),
                documents=tuple(clarification["documents"]),
                requested_at=clarification["requested_at"],
                requested_by=clarification["requested_by"],
                answer_due=date.fromisoformat(clarification["answer_due"]),
            )
            if clarification
            else None
        ),
        rejection=(
            Rejection(rejection["reason"], tuple(rejection["fields"]), rejection["automatic"])
            if rejection
            else None
        ),
        approved_by=doc.get("approved_by"),
        book=IssuedBook(book["id"], book["number"]) if book else None,
        version=doc["version"],
    )


def summary_of(doc: Doc) -> Summary:
    return Summary(
        id=doc["_id"],
        applicant_id=doc["applicant_id"],
        status=Status(doc["status"]),
        number=doc.get("number"),
        employer_name=(doc.get("employer") or {}).get("name"),
        due_date=_date(doc.get("due_date")),
        overdue=bool(doc.get("overdue")),
        assignee_id=doc.get("assignee_id"),
        submitted_at=doc.get("submitted_at"),
        created_at=doc["created_at"],
        last_changed_at=doc["last_changed_at"],
    )
