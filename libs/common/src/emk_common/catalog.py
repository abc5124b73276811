"""The event catalog: the contract between the services.

Payloads carry ids, statuses, dates and codes — never a passport, СНИЛС, ОМС number,
contact, one-time code or medical content. A consumer that needs such data asks the
owner's ``/internal`` API with a service token.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from emk_common.events import EventData

IDENTITY = "emk.identity"
# Revoked sessions only: every replica of every service reads all of it (no consumer group),
# so it holds nothing else and keeps records only about as long as an access token lives.
IDENTITY_SESSIONS = "emk.identity.sessions"
APPLICATIONS = "emk.applications"
DOCUMENTS = "emk.documents"
RECORDS = "emk.records"
NOTIFICATIONS = "emk.notifications"
NOTIFICATION_COMMANDS = "emk.notifications.commands"
# Every service writes its audit journal's anchors here; identity alone reads (and keeps) them.
AUDIT = "emk.audit"
# Accesses to a person's data (who saw it: ids and codes only); identity alone reads them.
ACCESS = "emk.access"

TOPICS = (
    IDENTITY,
    IDENTITY_SESSIONS,
    APPLICATIONS,
    DOCUMENTS,
    RECORDS,
    NOTIFICATIONS,
    NOTIFICATION_COMMANDS,
    AUDIT,
    ACCESS,
)


def dlq_topic(service: str) -> str:
    """``service``'s own dead-letter topic: its consumers put there the records they can never
    apply, from whichever topic they read them (the record's headers say which). Only that
    service writes it (the Kafka ACLs of deploy/k8s, emk_devstack.topology)."""
    return f"emk.{service}.dlq"


Role = Literal["citizen", "medical_worker", "operator", "employer", "admin"]
Channel = Literal["sms", "email"]


# --- identity ----------------------------------------------------------------------------


class _Identity(EventData):
    topic = IDENTITY
    user_id: str


class UserRegistered(_Identity):
    name = "UserRegistered"
    role: Role = "citizen"


class ContactVerified(_Identity):
    name = "ContactVerified"
    channel: Channel


class PersonalDataVerified(_Identity):
    name = "PersonalDataVerified"


class TwoFactorChanged(_Identity):
    name = "TwoFactorChanged"
    method: Literal["sms", "email", "totp"]
    enabled: bool


class AccountLocked(_Identity):
    name = "AccountLocked"
    until: datetime
    reason: str


class RegistrationAttempted(_Identity):
    """Someone tried to register with logins of this account (``user_id``, the owner): which
    kinds, never their values. Registration answers such an attempt as if it were made (no
    account oracle); the owner is told instead."""

    name = "RegistrationAttempted"
    logins: list[Literal["phone", "email", "snils"]]


class StaffAccountCreated(_Identity):
    name = "StaffAccountCreated"
    role: Role
    organization_id: str | None = None
    created_by: str


class PersonalDataChanged(_Identity):
    """Any change of a citizen's personal data (the first entry too): ids only, whoever
    keeps a copy (records: the book's holder) asks identity's internal API again."""

    name = "PersonalDataChanged"


class StaffDeactivated(_Identity):
    """A staff account was closed by an admin: its sessions are over, and whatever the
    person could do elsewhere (a medical worker's keys and grants) ends now."""

    name = "StaffDeactivated"
    role: Role
    organization_id: str | None = None
    deactivated_by: str


class SessionRevoked(EventData):
    """A session ended before its access tokens expired (logout, a reused refresh token,
    a deactivated account): every service refuses its tokens from now on.

    Only the session: tokens carry ``sid``, so nothing else is needed to refuse them, and
    every replica of every service reads this topic — a user id would travel everywhere for
    nothing. The envelope's subject is the session id too. ``refuse_until`` bounds how
    long the revocation matters: by then every access token of the session has expired (the
    token lifetime and the verifiers' clock leeway after ``revoked_at``), so a service forgets
    it then (its memory holds at most one token lifetime of revocations).
    """

    topic = IDENTITY_SESSIONS
    name = "SessionRevoked"
    session_id: str
    revoked_at: datetime
    refuse_until: datetime


# --- applications ------------------------------------------------------------------------


# The codes of an application's statuses (the Russian names are the applications service's
# own and travel in its events: ApplicationStatusChanged.status_label).
ApplicationStatus = Literal[
    "draft", "submitted", "in_review", "clarification_requested", "approved", "rejected", "issued"
]


class _Applications(EventData):
    topic = APPLICATIONS
    application_id: str
    applicant_id: str


class ApplicationDrafted(_Applications):
    name = "ApplicationDrafted"


class ApplicationSubmitted(_Applications):
    name = "ApplicationSubmitted"
    number: str
    due_date: date


class ApplicationStatusChanged(_Applications):
    """Version 1, with a person's free text: no longer published (issue #13), still read
    from the log by its consumers. See v2."""

    name = "ApplicationStatusChanged"
    number: str | None = None
    # The medical book's number, once the application led to one (status ``issued``).
    book_number: str | None = None
    previous_status: ApplicationStatus | None = None
    status: ApplicationStatus
    changed_by: str | None = None
    comment: str | None = None
    fields: list[str] = Field(default_factory=list)
    documents: list[str] = Field(default_factory=list)
    # As people read them, in Russian: the status, and each of ``fields`` (a path) and of
    # ``documents`` (a kind). The vocabulary is the applications service's own; consumers
    # (notifications) show these labels instead of keeping a copy of it.
    status_label: str | None = None
    field_labels: dict[str, str] = Field(default_factory=dict)
    document_labels: dict[str, str] = Field(default_factory=dict)


class ApplicationStatusChangedV2(_Applications):
    """A change of status, without the free text of whoever made it (issue #13: nothing typed
    by a person travels on a topic). ``has_comment`` says there is a comment; a consumer allowed
    to (notifications) asks applications' internal API for it by the application id and
    ``seq``, the change's place in the application's history. Producers publish only this
    version; v1 may still be in the log."""

    name = "ApplicationStatusChanged"
    version = 2
    # The change's entry in the application's history (0: the draft's creation): with the
    # application id, the key of its comment in applications' internal API.
    seq: int
    number: str | None = None
    # The medical book's number, once the application led to one (status ``issued``).
    book_number: str | None = None
    previous_status: ApplicationStatus | None = None
    status: ApplicationStatus
    changed_by: str | None = None
    has_comment: bool = False
    fields: list[str] = Field(default_factory=list)
    documents: list[str] = Field(default_factory=list)
    # As in v1: the applications service's own Russian names of the codes.
    status_label: str | None = None
    field_labels: dict[str, str] = Field(default_factory=dict)
    document_labels: dict[str, str] = Field(default_factory=dict)


class ClarificationRequested(_Applications):
    name = "ClarificationRequested"
    number: str
    answer_due: date
    fields: list[str] = Field(default_factory=list)
    documents: list[str] = Field(default_factory=list)


class ApplicationApproved(_Applications):
    name = "ApplicationApproved"
    number: str


class ApplicationRejected(_Applications):
    """Version 1, with a person's free text: no longer published (issue #13), still read
    from the log by its consumers. See v2."""

    name = "ApplicationRejected"
    number: str | None = None
    reason: str
    fields: list[str] = Field(default_factory=list)
    automatic: bool = False


class ApplicationRejectedV2(_Applications):
    """A rejection without its reason's text: ``has_reason`` says there is one, kept in the
    application's history at ``seq`` (the same entry as the ``ApplicationStatusChanged`` of
    the rejection), where applications' internal API gives it to the consumers allowed."""

    name = "ApplicationRejected"
    version = 2
    seq: int
    number: str | None = None
    has_reason: bool = False
    fields: list[str] = Field(default_factory=list)
    automatic: bool = False


class DeadlineBreached(_Applications):
    name = "DeadlineBreached"
    number: str
    due_date: date
    deadline: Literal["review", "clarification_answer"]


# --- documents ---------------------------------------------------------------------------


DocumentKind = Literal[
    "passport", "oms_policy", "medical_certificate", "vaccination_certificate", "benefit", "other"
]
DocumentType = Literal["application/pdf", "image/jpeg", "image/png"]


class _Documents(EventData):
    topic = DOCUMENTS
    document_id: str
    owner_id: str


class DocumentUploaded(_Documents):
    name = "DocumentUploaded"
    kind: DocumentKind
    size: int
    content_type: DocumentType
    sha256: str


class DocumentVerified(_Documents):
    name = "DocumentVerified"
    verified_by: str


class DocumentRejected(_Documents):
    """Version 1, with a person's free text: no longer published (issue #13), still read
    from the log by its consumers. See v2."""

    name = "DocumentRejected"
    rejected_by: str
    reason: str


class DocumentRejectedV2(_Documents):
    """A rejection without the operator's reason: ``has_reason`` says there is one, which
    documents' internal API gives, by the document id, to the consumers allowed (a document
    is rejected at most once)."""

    name = "DocumentRejected"
    version = 2
    rejected_by: str
    has_reason: bool = False


# --- records -----------------------------------------------------------------------------


class _Records(EventData):
    topic = RECORDS
    book_id: str
    holder_id: str


class MedicalBookIssued(_Records):
    """A book was issued on an approved application (applications answers: ``issued``)."""

    name = "MedicalBookIssued"
    number: str
    application_id: str


class PositionAdded(_Records):
    """A further approved application of a person who has a book: a new position in it."""

    name = "PositionAdded"
    number: str
    application_id: str


RecordKind = Literal["exam", "vaccination", "lab_result", "certification"]


class _Record(_Records):
    record_id: str
    record_version: int = 1
    recorded_by: str
    organization_id: str


class ExamRecorded(_Record):
    name = "ExamRecorded"


class VaccinationRecorded(_Record):
    name = "VaccinationRecorded"


class LabResultRecorded(_Record):
    name = "LabResultRecorded"


class CertificationRecorded(_Record):
    name = "CertificationRecorded"


class RecordCorrected(_Record):
    """A new version of a record; the old one stays in the history."""

    name = "RecordCorrected"
    record_kind: RecordKind


DueKind = Literal["periodic_exam", "attestation", "vaccination"]


class DueItem(BaseModel):
    """One due date of a book: what kind, which record it follows from, when."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    kind: DueKind
    due_date: date


class BookDueDatesChanged(_Records):
    """The book's whole current list of due dates (no disease, result or conclusion);
    when to remind is the notifications service's decision."""

    name = "BookDueDatesChanged"
    due: list[DueItem]


class BookValidityChanged(_Records):
    """The book's validity as the public may know it: ``not_valid`` covers both an
    expired book and a suspended one (which would reveal an «Не годен» conclusion)."""

    name = "BookValidityChanged"
    status: Literal["valid", "expiring", "not_valid"]
    valid_until: date | None = None


class BookAccessGranted(_Records):
    """A medical organisation may read and write the book until ``expires_at``; the
    holder is told."""

    name = "BookAccessGranted"
    grant_id: str
    organization_id: str
    # A medical organisation's name is public (the registry's): the holder is told it.
    organization_name: str
    granted_by: str
    expires_at: datetime
    via: Literal["identifiers", "visit_code"]


class BookAccessEnded(_Records):
    name = "BookAccessEnded"
    grant_id: str
    organization_id: str
    ended_by: str


# A share code is a bearer secret: these events name the share by its id, never the code
# (nor the employer's ИНН, which for a sole trader is a person's).
class BookShared(_Records):
    name = "BookShared"
    share_id: str
    expires_at: datetime


class ShareRevoked(_Records):
    name = "ShareRevoked"
    share_id: str


class ShareChecked(_Records):
    """Someone checked the book with a share code (at most one event a day per code: the
    citizen is told "your book was checked", not every time)."""

    name = "ShareChecked"
    share_id: str
    checked_at: datetime


# --- notifications -----------------------------------------------------------------------


class _Notifications(EventData):
    topic = NOTIFICATIONS
    notification_id: str
    user_id: str


class NotificationSent(_Notifications):
    name = "NotificationSent"
    channel: Literal["sms", "email", "in_app"]
    trigger_event_id: str


class NotificationFailed(_Notifications):
    name = "NotificationFailed"
    channel: Literal["sms", "email", "in_app"]
    trigger_event_id: str
    attempts: int
    error_code: str


class SealedBox(BaseModel):
    """An X25519 + HKDF + AES-GCM box sealed for the notifications service's key ``kid``."""

    model_config = ConfigDict(frozen=True)

    kid: str
    ephemeral_public_key: str
    nonce: str
    ciphertext: str


class DeliverOtp(EventData):
    """A one-time code to deliver. The destination and the code are inside ``sealed``."""

    topic = NOTIFICATION_COMMANDS
    name = "DeliverOtp"
    user_id: str
    channel: Channel
    purpose: Literal["contact_verification", "login"]
    expires_at: datetime
    sealed: SealedBox


# --- every service: the audit journal --------------------------------------------------------


class AuditAnchored(EventData):
    """The head of a sealed batch of a service's audit journal (``emk_common.journal``):
    the chain's hash up to entry ``seq``. Identity keeps every anchor forever, so a journal
    rewritten inside the service's own database no longer matches them (``emk-audit verify``).
    The subject (Kafka key) is the service: its anchors stay in order."""

    topic = AUDIT
    name = "AuditAnchored"
    service: str
    seq: int
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: datetime


# An access's action and resource are codes (``read``, ``read_content``, ``record.exam``…),
# never words someone typed.
ACCESS_CODE = r"^[a-z][a-z0-9_.+-]{0,63}$"


class AccessRecorded(EventData):
    """One sealed entry of a service's audit journal about someone else's access to a
    person's data (``emk_common.access_feed``), for that person's "who saw my data" in
    identity. Ids and codes only: the free-text reason stays in the service (``has_reason``
    says whether there is one; identity asks for it with a service token). ``entry_id``
    (``<service>:<seq>:<entry _id>``) is stable: a copy published again is the same access,
    and no other journal's entry has it. The subject
    (Kafka key) is the owner: one person's accesses stay in order."""

    topic = ACCESS
    name = "AccessRecorded"
    entry_id: str = Field(pattern=r"^[a-z]+:[0-9]+:[0-9A-Za-z]+$")
    service: str = Field(pattern=r"^[a-z]+$")
    owner_id: str
    actor_id: str
    actor_role: str = Field(pattern=ACCESS_CODE)
    organization_id: str | None = None
    resource: str = Field(pattern=ACCESS_CODE)
    subject_id: str | None = None
    action: str = Field(pattern=ACCESS_CODE)
    at: datetime
    has_reason: bool


CATALOG: dict[str, type[EventData]] = {
    cls.event_type(): cls
    for cls in (
        UserRegistered,
        ContactVerified,
        PersonalDataVerified,
        TwoFactorChanged,
        AccountLocked,
        RegistrationAttempted,
        StaffAccountCreated,
        PersonalDataChanged,
        StaffDeactivated,
        SessionRevoked,
        ApplicationDrafted,
        ApplicationSubmitted,
        ApplicationStatusChanged,
        ApplicationStatusChangedV2,
        ClarificationRequested,
        ApplicationApproved,
        ApplicationRejected,
        ApplicationRejectedV2,
        DeadlineBreached,
        DocumentUploaded,
        DocumentVerified,
        DocumentRejected,
        DocumentRejectedV2,
        MedicalBookIssued,
        PositionAdded,
        ExamRecorded,
        VaccinationRecorded,
        LabResultRecorded,
        CertificationRecorded,
        RecordCorrected,
        BookDueDatesChanged,
        BookValidityChanged,
        BookAccessGranted,
        BookAccessEnded,
        BookShared,
        ShareRevoked,
        ShareChecked,
        NotificationSent,
        NotificationFailed,
        DeliverOtp,
        AuditAnchored,
        AccessRecorded,
    )
}
