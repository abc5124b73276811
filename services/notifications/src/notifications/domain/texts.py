"""What each message is made of — the facts of an event (a status change, a book access, a
check with a share code, a due date coming near, a book no longer valid) — and those facts
rendered for the service: in-app, SMS and e-mail, and the messages carrying one-time codes.

The wording is not here: every message is a versioned template per channel with its
variables declared (``domain/templates/``). This module turns a message's facts into its
template's variables (``variables_of``) and renders them. Pure: no I/O.

The Russian names of statuses, fields and documents are the applications service's
vocabulary and come with the event (``status_label``, ``field_labels``, ``document_labels``);
a name the event does not give is shown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from emk_common.catalog import (
    ApplicationStatusChanged,
    ApplicationStatusChangedV2,
    BookAccessGranted,
    ShareChecked,
)
from notifications.domain import templates
from notifications.domain.templates.account import ACCOUNT_LOCKED as ACCOUNT_LOCKED
from notifications.domain.templates.account import (
    ONE_TIME_CODE_SUBJECTS as ONE_TIME_CODE_SUBJECTS,
)
from notifications.domain.templates.account import (
    ONE_TIME_CODE_TEXTS as ONE_TIME_CODE_TEXTS,
)
from notifications.domain.templates.account import (
    REGISTRATION_ATTEMPTED as REGISTRATION_ATTEMPTED,
)
from notifications.domain.templates.account import one_time_code_name
from notifications.domain.templates.application import (
    APPLICATION_STATUS as APPLICATION_STATUS,
)
from notifications.domain.templates.application import WITH_FIXES as WITH_FIXES
from notifications.domain.templates.book import BOOK_ACCESS as BOOK_ACCESS
from notifications.domain.templates.book import BOOK_CHECKED as BOOK_CHECKED
from notifications.domain.templates.book import BOOK_NOT_VALID as BOOK_NOT_VALID
from notifications.domain.templates.book import REMINDER as REMINDER
from notifications.domain.templates.common import MOSCOW
from notifications.domain.templates.common import SMS_MAX_CHARS as SMS_MAX_CHARS
from notifications.domain.templates.summary import SMS_SUMMARY as SMS_SUMMARY

# The kinds of message a notification or a delivery carries (``kind``) are the names of
# their templates: APPLICATION_STATUS, BOOK_ACCESS, BOOK_CHECKED, REMINDER, BOOK_NOT_VALID,
# ACCOUNT_LOCKED.


@dataclass(frozen=True)
class StatusChange:
    """The facts of one status change that the texts are made of."""

    number: str | None
    status: str
    comment: str | None = None
    fields: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    book_number: str | None = None
    status_label: str | None = None
    field_labels: Mapping[str, str] = field(default_factory=dict)
    document_labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        event: ApplicationStatusChanged | ApplicationStatusChangedV2,
        comment: str | None = None,
    ) -> StatusChange:
        """``comment``: the one a v2 event says there is, read from applications (a v1 event
        carries its own, and this is ignored)."""
        if isinstance(event, ApplicationStatusChanged):
            comment = event.comment
        return cls(
            number=event.number,
            status=event.status,
            comment=(comment or "").strip() or None,
            fields=tuple(event.fields),
            documents=tuple(event.documents),
            book_number=event.book_number,
            status_label=event.status_label,
            field_labels=dict(event.field_labels),
            document_labels=dict(event.document_labels),
        )

    @property
    def label(self) -> str:
        return self.status_label or self.status

    @property
    def fixes(self) -> list[str]:
        """What to fix, as a person reads it; empty unless the status asks for fixes."""
        if self.status not in WITH_FIXES:
            return []
        fields = [self.field_labels.get(path, path) for path in self.fields]
        return fields + [self.document_labels.get(kind, kind) for kind in self.documents]


@dataclass(frozen=True)
class BookAccess:
    """A lookup by a medical worker opened the holder's book to their organisation."""

    organization: str
    until: date
    via: str

    @classmethod
    def of(cls, event: BookAccessGranted) -> BookAccess:
        until = event.expires_at.astimezone(MOSCOW).date()
        return cls(organization=event.organization_name, until=until, via=event.via)


@dataclass(frozen=True)
class BookCheck:
    """Someone checked the book with one of the holder's share codes (records tells at most
    once a Moscow day per code). Only the time: the code is a bearer secret and who checked
    is not known."""

    checked_at: datetime

    @classmethod
    def of(cls, event: ShareChecked) -> BookCheck:
        return cls(checked_at=event.checked_at)


@dataclass(frozen=True)
class DueReminder:
    """A due date of the book comes near: what falls due, when, and how many days are left
    when the reminder goes out (counted in Moscow days)."""

    due_kind: str
    due_date: date
    days_left: int


@dataclass(frozen=True)
class BookNotValid:
    """The book stopped being valid (never why: expired and suspended read alike)."""

    book_number: str | None = None


@dataclass(frozen=True)
class AccountLock:
    """Sign-in is locked after password failures, until ``until`` (identity's
    ``AccountLocked``): the person learns it even if it was not them typing."""

    until: datetime


@dataclass(frozen=True)
class RegistrationAttempt:
    """Someone tried to register with the person's logins (identity's
    ``RegistrationAttempted``): which kinds — ``phone``, ``email``, ``snils`` — never values."""

    logins: tuple[str, ...]


@dataclass(frozen=True)
class SmsSummary:
    """Stands for ``count`` SMS folded past the person's hourly limit (SMS only)."""

    count: int


Message = (
    StatusChange
    | BookAccess
    | BookCheck
    | DueReminder
    | BookNotValid
    | AccountLock
    | RegistrationAttempt
    | SmsSummary
)


@dataclass(frozen=True)
class Text:
    title: str
    body: str


@dataclass(frozen=True)
class Email:
    subject: str
    body: str
    html: str


def kind_of(message: Message) -> str:
    """The message's kind: the name of its template."""
    if isinstance(message, BookAccess):
        return BOOK_ACCESS
    if isinstance(message, BookCheck):
        return BOOK_CHECKED
    if isinstance(message, DueReminder):
        return REMINDER
    if isinstance(message, BookNotValid):
        return BOOK_NOT_VALID
    if isinstance(message, AccountLock):
        return ACCOUNT_LOCKED
    if isinstance(message, RegistrationAttempt):
        return REGISTRATION_ATTEMPTED
    if isinstance(message, SmsSummary):
        return SMS_SUMMARY
    return APPLICATION_STATUS


def variables_of(message: Message) -> dict[str, object]:
    """The message's facts as its templates' variables (each channel's template takes the
    ones it declares; an e-mail adds ``addressee``)."""
    if isinstance(message, BookAccess):
        return {"organization": message.organization, "until": message.until, "via": message.via}
    if isinstance(message, BookCheck):
        return {"checked_at": message.checked_at}
    if isinstance(message, DueReminder):
        return {
            "due_kind": message.due_kind,
            "due_date": message.due_date,
            "days_left": message.days_left,
        }
    if isinstance(message, BookNotValid):
        return {"book_number": message.book_number}
    if isinstance(message, AccountLock):
        return {"until": message.until}
    if isinstance(message, RegistrationAttempt):
        return {"logins": list(message.logins)}
    if isinstance(message, SmsSummary):
        return {"count": message.count}
    return {
        "number": message.number,
        "status": message.status,
        "status_label": message.status_label,
        "comment": message.comment,
        "fixes": message.fixes,
        "book_number": message.book_number,
    }


def _render(
    message: Message, channel: templates.Channel, extra: Mapping[str, object] | None = None
) -> templates.Rendered:
    template = templates.template(kind_of(message), channel)
    facts = {**variables_of(message), **(extra or {})}
    # Only what this channel's template declares (an SMS has no comment): one it declares
    # and the facts lack still fails, as missing.
    return template.render({name: facts[name] for name in template.variables if name in facts})


def in_app_of(message: Message) -> Text:
    """The notification in the personal account: a title and the whole story."""
    shown = _render(message, "in_app")
    return Text(title=shown.title or "", body=shown.text)


def sms_of(message: Message) -> str:
    """One short line (at most ``SMS_MAX_CHARS``)."""
    return _render(message, "sms").text


def email_of(message: Message, addressee: str | None = None) -> Email:
    """A letter greeting ``addressee`` («Мария Сергеевна»): subject, text, and HTML."""
    letter = _render(message, "email", {"addressee": addressee})
    return Email(subject=letter.subject or "", body=letter.text, html=letter.html or "")


# An application's status change, as the tests and the notes name them.
def in_app(change: StatusChange) -> Text:
    return in_app_of(change)


def sms(change: StatusChange) -> str:
    return sms_of(change)


def email(change: StatusChange, addressee: str | None = None) -> Email:
    return email_of(change, addressee)


def addressee(first_name: str | None, middle_name: str | None) -> str | None:
    """How a letter addresses a person: «Мария Сергеевна», or just «Мария»."""
    parts = [p.strip() for p in (first_name, middle_name) if p and p.strip()]
    return " ".join(parts) or None


# One-time codes (``DeliverOtp``): the code goes in at send time and is forgotten right after.
def one_time_code(purpose: str, code: str) -> str:
    """The SMS carrying a one-time code for ``purpose`` (the e-mail's text is the same)."""
    return templates.render(one_time_code_name(purpose), "sms", {"code": code}).text


def one_time_code_email(purpose: str, code: str) -> Email:
    letter = templates.render(one_time_code_name(purpose), "email", {"code": code})
    return Email(subject=letter.subject or "", body=letter.text, html=letter.html or "")
