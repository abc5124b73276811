"""Request bodies (shape and format only: the domain words the business rules), and what the
API shows of an application, its lists, the employment records reads, and the calendar."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool, model_serializer
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from applications.domain.application import Application
from applications.domain.calendar import CalendarSettings, Override
from applications.domain.employer import DraftInput, EmployerInput
from applications.domain.parts import Summary
from applications.domain.statuses import LABELS
from applications.domain.vocabulary import DOCUMENT_LABELS, FIELD_LABELS
from applications.service import Page
from emk_common.field_errors import RequestBody

_TEXT_CAP = 2000
_CODE_CAP = 64


# --- requests ------------------------------------------------------------------------------


class AddressIn(RequestBody):
    """An address as in API.md; every part optional here so that the rules name each gap."""

    region_code: str | None = Field(default=None, max_length=_CODE_CAP)
    postal_code: str | None = Field(default=None, max_length=_CODE_CAP)
    locality: str | None = Field(default=None, max_length=_TEXT_CAP)
    street: str | None = Field(default=None, max_length=_TEXT_CAP)
    house: str | None = Field(default=None, max_length=_TEXT_CAP)
    flat: str | None = Field(default=None, max_length=_TEXT_CAP)


class EmployerIn(RequestBody):
    name: str | None = Field(default=None, max_length=_TEXT_CAP)
    inn: str | None = Field(default=None, max_length=_CODE_CAP)
    ogrn: str | None = Field(default=None, max_length=_CODE_CAP)
    legal_address: AddressIn | None = None
    hr_phone: str | None = Field(default=None, max_length=_CODE_CAP)
    hr_email: str | None = Field(default=None, max_length=_TEXT_CAP)
    org_type: str | None = Field(default=None, max_length=_CODE_CAP)
    ownership: str | None = Field(default=None, max_length=_CODE_CAP)
    department: str | None = Field(default=None, max_length=_TEXT_CAP)
    position: str | None = Field(default=None, max_length=_TEXT_CAP)


class DraftIn(RequestBody):
    """A draft or a change to it: a field that is absent or ``null`` is left as it was."""

    employer: EmployerIn | None = None
    oms_policy: str | None = Field(
        default=None,
        max_length=_CODE_CAP,
        # What the code takes (emk_identifiers.oms_policy): 16 digits, spaces between groups.
        json_schema_extra={"pattern": r"^ *(?:[0-9] *){16}$"},
    )
    # Strict: consent is an explicit ``true``, not a string or a number that looks like one.
    consent_personal_data: StrictBool | None = None

    def to_domain(self) -> DraftInput:
        employer = None
        if self.employer is not None:
            given = self.employer
            address = given.legal_address.model_dump() if given.legal_address else None
            employer = EmployerInput(
                name=given.name, inn=given.inn, ogrn=given.ogrn, legal_address=address,
                hr_phone=given.hr_phone, hr_email=given.hr_email, org_type=given.org_type,
                ownership=given.ownership, department=given.department, position=given.position,
            )  # fmt: skip
        return DraftInput(
            employer=employer,
            oms_policy=self.oms_policy,
            consent_personal_data=self.consent_personal_data,
        )


class Attachment(RequestBody):
    document_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=64)


class Answer(RequestBody):
    comment: str | None = Field(default=None, max_length=2000)


def _one_of(names: Iterable[str]) -> dict[str, Any]:
    """The schema of a list of the names the code knows (``domain.parts`` refuses others)."""
    return {"items": {"type": "string", "enum": sorted(names)}}


class ClarificationRequest(RequestBody):
    comment: str = Field(min_length=3, max_length=2000)
    fields: list[str] = Field(
        default_factory=list, max_length=50, json_schema_extra=_one_of(FIELD_LABELS)
    )
    documents: list[str] = Field(
        default_factory=list, max_length=10, json_schema_extra=_one_of(DOCUMENT_LABELS)
    )


class Rejection(RequestBody):
    reason: str = Field(min_length=3, max_length=2000)
    fields: list[str] = Field(
        default_factory=list,
        max_length=50,
        json_schema_extra=_one_of([*FIELD_LABELS, *(f"documents.{d}" for d in DOCUMENT_LABELS)]),
    )


class PeakPeriodIn(RequestBody):
    start: date
    end: date


class OverrideIn(RequestBody):
    date: date
    working: bool


class CalendarIn(RequestBody):
    peak_periods: list[PeakPeriodIn] = Field(default_factory=list, max_length=50)
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=400)

    def periods(self) -> list[tuple[date, date]]:
        return [(p.start, p.end) for p in self.peak_periods]

    def to_overrides(self) -> list[Override]:
        return [Override(o.date, o.working) for o in self.overrides]


# --- responses -----------------------------------------------------------------------------


class SummaryOut(BaseModel):
    """What the lists show of an application (and the start of its detail)."""

    id: str
    number: str | None
    status: str
    status_label: str
    employer_name: str | None
    due_date: date | None
    overdue: bool
    assignee_id: str | None
    submitted_at: datetime | None
    created_at: datetime
    last_changed_at: datetime

    @classmethod
    def fields_of(cls, summary: Summary) -> dict[str, Any]:
        return {
            "id": summary.id, "number": summary.number, "status": str(summary.status),
            "status_label": LABELS[summary.status], "employer_name": summary.employer_name,
            "due_date": summary.due_date, "overdue": summary.overdue,
            "assignee_id": summary.assignee_id, "submitted_at": summary.submitted_at,
            "created_at": summary.created_at, "last_changed_at": summary.last_changed_at,
        }  # fmt: skip

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        return cls(**cls.fields_of(summary))


class EmployerOut(BaseModel):
    """The employer block: only the fields given so far."""

    name: str | None = None
    inn: str | None = None
    ogrn: str | None = None
    legal_address: dict[str, str] | None = None
    hr_phone: str | None = None
    hr_email: str | None = None
    org_type: str | None = None
    ownership: str | None = None
    department: str | None = None
    position: str | None = None

    @model_serializer(mode="wrap")
    def _given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        shown: dict[str, Any] = handler(self)
        return {key: value for key, value in shown.items() if value is not None}


class ConsentOut(BaseModel):
    given_at: datetime
    text_version: str


class DocumentOut(BaseModel):
    kind: str
    kind_label: str
    document_id: str
    status: str
    attached_at: datetime


class ClarificationOut(BaseModel):
    comment: str
    fields: list[str]
    documents: list[str]
    requested_at: datetime
    requested_by: str
    answer_due: date


class RejectionOut(BaseModel):
    reason: str
    fields: list[str]
    automatic: bool


class HistoryOut(BaseModel):
    status: str
    status_label: str
    at: datetime
    by: str
    by_role: str
    comment: str | None


class ApplicationOut(SummaryOut):
    applicant_id: str
    employer: EmployerOut
    employer_checked_in_registry: bool
    oms_policy: str | None
    consent: ConsentOut | None
    documents: list[DocumentOut]
    answer_due: date | None
    clarification: ClarificationOut | None
    rejection: RejectionOut | None
    history: list[HistoryOut]

    @classmethod
    def shown(cls, application: Application, document_statuses: dict[str, str]) -> ApplicationOut:
        """``document_statuses``: the review status of each attached document, by its id."""
        a = application
        c = a.clarification
        return cls(
            **SummaryOut.fields_of(a.summary()),
            applicant_id=a.applicant_id,
            employer=EmployerOut(**a.employer.given()),
            employer_checked_in_registry=a.employer.registry_checked,
            oms_policy=a.oms_policy,
            consent=ConsentOut(given_at=a.consent.given_at, text_version=a.consent.text_version)
            if a.consent
            else None,
            documents=[
                DocumentOut(
                    kind=kind,
                    kind_label=DOCUMENT_LABELS.get(kind, kind),
                    document_id=d.document_id,
                    attached_at=d.attached_at,
                    status=document_statuses.get(d.document_id, "pending_review"),
                )
                for kind, d in sorted(a.documents.items())
            ],
            answer_due=a.answer_due,
            clarification=ClarificationOut(
                comment=c.comment,
                fields=list(c.fields),
                documents=list(c.documents),
                requested_at=c.requested_at,
                requested_by=c.requested_by,
                answer_due=c.answer_due,
            )
            if c
            else None,
            rejection=RejectionOut(
                reason=a.rejection.reason,
                fields=list(a.rejection.fields),
                automatic=a.rejection.automatic,
            )
            if a.rejection
            else None,
            history=[
                HistoryOut(
                    status=str(h.status),
                    status_label=h.status_label,
                    at=h.at,
                    by=h.by,
                    by_role=h.by_role,
                    comment=h.comment,
                )
                for h in a.history
            ],
        )


class PageOut(BaseModel):
    items: list[SummaryOut]
    total: int
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page) -> PageOut:
        return cls(
            items=[SummaryOut.of(s) for s in page.items],
            total=page.total,
            next_cursor=page.next_cursor,
        )


class EmploymentOut(BaseModel):
    """What the records service puts in a book: the employer and the position."""

    application_id: str
    applicant_id: str
    status: str
    employer_name: str | None
    employer_inn: str | None
    department: str | None
    position: str | None

    @classmethod
    def of(cls, application: Application) -> EmploymentOut:
        employer = application.employer
        return cls(
            application_id=application.id, applicant_id=application.applicant_id,
            status=str(application.status), employer_name=employer.name,
            employer_inn=employer.inn, department=employer.department, position=employer.position,
        )  # fmt: skip


class ChangeCommentOut(BaseModel):
    """The comment of one change of an application (its place ``seq`` in the history), for
    the notifications service: the free text that stays off the topics."""

    application_id: str
    seq: int
    status: str
    comment: str


class PeakPeriodOut(BaseModel):
    start: date
    end: date


class OverrideOut(BaseModel):
    date: date
    working: bool


class CalendarOut(BaseModel):
    peak_periods: list[PeakPeriodOut]
    overrides: list[OverrideOut]
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def of(cls, settings: CalendarSettings) -> CalendarOut:
        return cls(
            peak_periods=[PeakPeriodOut(start=p.start, end=p.end) for p in settings.peak_periods],
            overrides=[OverrideOut(date=o.day, working=o.working) for o in settings.overrides],
            updated_at=settings.updated_at,
            updated_by=settings.updated_by,
        )
