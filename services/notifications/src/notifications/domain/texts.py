"""What a citizen reads when their application changes status, when a medical organisation
is given access to their book and when someone checks the book with a share code (in-app,
SMS and e-mail), and the messages carrying one-time codes.

Pure functions of the event's facts (number, status, comment, fields, documents): no I/O.
The Russian names of statuses, fields and documents are the applications service's
vocabulary and come with the event (``status_label``, ``field_labels``, ``document_labels``);
a name the event does not give is shown as it is.
The SMS is one short line; the e-mail and the in-app notification say everything,
including, for a clarification or a rejection, what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from emk_common.catalog import ApplicationStatusChanged, BookAccessGranted, ShareChecked

# The kinds of message a notification or a delivery carries (``kind``).
APPLICATION_STATUS = "application_status"
BOOK_ACCESS = "book_access"
BOOK_CHECKED = "book_checked"

# The statuses after which the applicant has something to fix.
WITH_FIXES = frozenset({"clarification_requested", "rejected"})

_NEXT_STEP: Mapping[str, str] = {
    "draft": "Заполните черновик и отправьте заявление в личном кабинете.",
    "submitted": "Заявление принято к рассмотрению. Мы сообщим, когда статус изменится.",
    "in_review": "Специалист рассматривает заявление. Мы сообщим о решении.",
    "clarification_requested": (
        "Исправьте указанное и отправьте заявление повторно в личном кабинете."
    ),
    "approved": "Мы сообщим, когда медицинская книжка будет готова к выдаче.",
    "rejected": "Вы можете подать новое заявление, исправив указанное.",
    "issued": "Медицинская книжка готова к выдаче.",
}
_COMMENT_HEADING = {"clarification_requested": "Комментарий специалиста", "rejected": "Причина"}
# An SMS names at most this many things to fix, and stays within this length.
SMS_FIXES = 3
SMS_MAX_CHARS = 160
_SIGNATURE = (
    "Это письмо отправлено автоматически, отвечать на него не нужно.\n"
    "Электронная медицинская книжка (ЭМК)"
)
_SPACES = re.compile(r"\s+")


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
    def of(cls, event: ApplicationStatusChanged) -> StatusChange:
        return cls(
            number=event.number,
            status=event.status,
            comment=(event.comment or "").strip() or None,
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
    def book(self) -> str | None:
        """«Номер медицинской книжки: …», once the book is issued."""
        return f"Номер медицинской книжки: {self.book_number}." if self.book_number else None

    @property
    def fixes(self) -> list[str]:
        """What to fix, as a person reads it; empty unless the status asks for fixes."""
        if self.status not in WITH_FIXES:
            return []
        fields = [self.field_labels.get(path, path) for path in self.fields]
        return fields + [self.document_labels.get(kind, kind) for kind in self.documents]


@dataclass(frozen=True)
class Text:
    title: str
    body: str


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


def _application(number: str | None, *, genitive: bool = False) -> str:
    word = "заявления" if genitive else "заявление"
    return f"{word} № {number}" if number else word


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def in_app(change: StatusChange) -> Text:
    """The notification in the personal account: a title and the whole story."""
    title = f"{_capitalised(_application(change.number))}: {change.label}"
    lines = [f"Статус {_application(change.number, genitive=True)} изменился: «{change.label}»."]
    if change.status in WITH_FIXES and change.comment:
        lines.append(f"{_COMMENT_HEADING[change.status]}: {change.comment}")
    if change.fixes:
        lines.append(f"Что нужно исправить: {'; '.join(change.fixes)}.")
    if change.status in _NEXT_STEP:
        lines.append(_NEXT_STEP[change.status])
    if change.book:
        lines.append(change.book)
    return Text(title=title, body="\n".join(lines))


def sms(change: StatusChange) -> str:
    """One short line: the number, the status, and the first few things to fix."""
    head = f"ЭМК: {_application(change.number)} — «{change.label}»."
    if change.status not in WITH_FIXES:
        return _one_line(f"{head} {change.book}" if change.book else head)
    fixes = [_one_line(label) for label in change.fixes]
    tail = " Подробнее в личном кабинете."
    # As many things to fix as fit (at most a few), the rest counted.
    for shown in range(min(len(fixes), SMS_FIXES), 0, -1):
        more = len(fixes) - shown
        named = f" Исправьте: {', '.join(fixes[:shown])}" + (f" и ещё {more}." if more else ".")
        text = _one_line(head + named + tail)
        if len(text) <= SMS_MAX_CHARS:
            return text
    if fixes:
        return _one_line(f"{head} Что исправить — в личном кабинете.")
    return _one_line(head + tail)


def email(change: StatusChange, addressee: str | None = None) -> Email:
    """A letter: the subject says the number and the status; the body, everything."""
    subject = f"{_capitalised(_application(change.number))}: {change.label} — ЭМК"
    greeting = f"Здравствуйте, {addressee}!" if addressee else "Здравствуйте!"
    paragraphs = [
        greeting,
        f"Статус вашего {_application(change.number, genitive=True)} на оформление "
        f"электронной медицинской книжки изменился: «{change.label}».",
    ]
    if change.status in WITH_FIXES and change.comment:
        paragraphs.append(f"{_COMMENT_HEADING[change.status]}:\n{change.comment}")
    if change.fixes:
        paragraphs.append("Что нужно исправить:\n" + "\n".join(f"— {f}" for f in change.fixes))
    if change.status in _NEXT_STEP:
        paragraphs.append(_NEXT_STEP[change.status])
    if change.book:
        paragraphs.append(change.book)
    paragraphs.append(_SIGNATURE)
    return Email(subject=subject, body="\n\n".join(paragraphs))


# --- the medical book: a medical organisation was given access -----------------------------

_MOSCOW = ZoneInfo("Europe/Moscow")


@dataclass(frozen=True)
class BookAccess:
    """A lookup by a medical worker opened the holder's book to their organisation."""

    organization: str
    until: date
    via: str

    @classmethod
    def of(cls, event: BookAccessGranted) -> BookAccess:
        until = event.expires_at.astimezone(_MOSCOW).date()
        return cls(organization=event.organization_name, until=until, via=event.via)

    @property
    def how(self) -> str:
        return "по коду визита" if self.via == "visit_code" else "по СНИЛС и номеру книжки"

    @property
    def sentence(self) -> str:
        return (
            f"Медицинская организация «{self.organization}» получила доступ к вашей медицинской "
            f"книжке ({self.how}) до {self.until:%d.%m.%Y}."
        )


_NOT_YOU = "Если вы не обращались в эту организацию, закройте доступ в разделе «Доступ к книжке»."


def book_access_in_app(access: BookAccess) -> Text:
    return Text(title="Доступ к медицинской книжке", body=f"{access.sentence}\n{_NOT_YOU}")


def book_access_sms(access: BookAccess) -> str:
    text = (
        f"ЭМК: «{access.organization}» получила доступ к вашей книжке до {access.until:%d.%m.%Y}."
    )
    if len(text) > SMS_MAX_CHARS:
        until = f"{access.until:%d.%m.%Y}"
        text = f"ЭМК: медицинская организация получила доступ к вашей книжке до {until}."
    return _one_line(text)


def book_access_email(access: BookAccess, addressee: str | None = None) -> Email:
    greeting = f"Здравствуйте, {addressee}!" if addressee else "Здравствуйте!"
    body = "\n\n".join([greeting, access.sentence, _NOT_YOU, _SIGNATURE])
    return Email(subject="Доступ к медицинской книжке — ЭМК", body=body)


# --- the medical book: someone checked it with a share code --------------------------------


@dataclass(frozen=True)
class BookCheck:
    """Someone checked the book with one of the holder's share codes (records tells at most
    once a Moscow day per code). Only the time: the code is a bearer secret and who checked
    is not known."""

    checked_at: datetime

    @classmethod
    def of(cls, event: ShareChecked) -> BookCheck:
        return cls(checked_at=event.checked_at)

    @property
    def when(self) -> str:
        """«29.11.2026 в 12:30», in Moscow time, whatever offset the event's time carries."""
        return f"{self.checked_at.astimezone(_MOSCOW):%d.%m.%Y в %H:%M}"

    @property
    def sentence(self) -> str:
        return f"Вашу медицинскую книжку проверили по коду доступа {self.when} (МСК)."


_NOT_YOURS = "Если вы не передавали код, отзовите его в разделе «Доступ к книжке»."
_ONCE_A_DAY = (
    "О повторных проверках по этому коду в тот же день мы не сообщаем: "
    "их число видно рядом с кодом."
)


def book_checked_in_app(check: BookCheck) -> Text:
    body = "\n".join([check.sentence, _NOT_YOURS, _ONCE_A_DAY])
    return Text(title="Проверка медицинской книжки", body=body)


def book_checked_sms(check: BookCheck) -> str:
    """Always the same length (a fixed date format): well within one SMS."""
    return _one_line(
        f"ЭМК: вашу медицинскую книжку проверили по коду доступа {check.when} МСК. "
        "Если вы не передавали код, отзовите его в личном кабинете."
    )


def book_checked_email(check: BookCheck, addressee: str | None = None) -> Email:
    greeting = f"Здравствуйте, {addressee}!" if addressee else "Здравствуйте!"
    body = "\n\n".join([greeting, check.sentence, _NOT_YOURS, _ONCE_A_DAY, _SIGNATURE])
    return Email(subject="Проверка медицинской книжки — ЭМК", body=body)


# --- the medical book: a due date comes near, the book stops being valid -------------------

REMINDER = "reminder"
BOOK_NOT_VALID = "book_not_valid"

# What falls due, in the genitive: «истекает срок периодического медицинского осмотра».
_DUE_WHAT: Mapping[str, str] = {
    "periodic_exam": "периодического медицинского осмотра",
    "attestation": "гигиенической аттестации",
    "vaccination": "очередной вакцинации",
}


def days_phrase(days: int) -> str:
    """«через 1 день», «через 3 дня», «через 7 дней», «сегодня», «завтра»."""
    if days <= 0:
        return "сегодня"
    if days == 1:
        return "завтра"
    tens, ones = days % 100, days % 10
    if 11 <= tens <= 14 or ones not in (1, 2, 3, 4):
        word = "дней"
    else:
        word = "день" if ones == 1 else "дня"
    return f"через {days} {word}"


@dataclass(frozen=True)
class DueReminder:
    """A due date of the book comes near: what falls due, when, and how many days are left
    when the reminder goes out (counted in Moscow days)."""

    due_kind: str
    due_date: date
    days_left: int

    @property
    def what(self) -> str:
        return _DUE_WHAT.get(self.due_kind, self.due_kind)

    @property
    def sentence(self) -> str:
        return _capitalised(
            f"{days_phrase(self.days_left)}, {self.due_date:%d.%m.%Y}, истекает срок {self.what}."
        )


_BOOK_IT = "Запишитесь в медицинскую организацию заранее, чтобы книжка не перестала действовать."


def reminder_in_app(reminder: DueReminder) -> Text:
    return Text(title="Напоминание о сроке", body=f"{reminder.sentence}\n{_BOOK_IT}")


def reminder_sms(reminder: DueReminder) -> str:
    return _one_line(f"ЭМК: {reminder.sentence[:1].lower()}{reminder.sentence[1:]}")


def reminder_email(reminder: DueReminder, addressee: str | None = None) -> Email:
    greeting = f"Здравствуйте, {addressee}!" if addressee else "Здравствуйте!"
    body = "\n\n".join([greeting, reminder.sentence, _BOOK_IT, _SIGNATURE])
    return Email(subject=f"Напоминание: срок {reminder.what} — ЭМК", body=body)


@dataclass(frozen=True)
class BookNotValid:
    """The book stopped being valid (never why: expired and suspended read alike)."""

    book_number: str | None = None

    @property
    def sentence(self) -> str:
        number = f" № {self.book_number}" if self.book_number else ""
        return f"Ваша медицинская книжка{number} больше не действует."


_WHAT_NOW = "Подробности и что сделать, чтобы она снова действовала, — в личном кабинете."


def not_valid_in_app(message: BookNotValid) -> Text:
    return Text(title="Медицинская книжка не действует", body=f"{message.sentence}\n{_WHAT_NOW}")


def not_valid_sms(message: BookNotValid) -> str:
    return _one_line(f"ЭМК: {message.sentence} Подробности в личном кабинете.")


def not_valid_email(message: BookNotValid, addressee: str | None = None) -> Email:
    greeting = f"Здравствуйте, {addressee}!" if addressee else "Здравствуйте!"
    body = "\n\n".join([greeting, message.sentence, _WHAT_NOW, _SIGNATURE])
    return Email(subject="Медицинская книжка не действует — ЭМК", body=body)


# --- what the dispatcher renders, by what the message is about ------------------------------

Message = StatusChange | BookAccess | BookCheck | DueReminder | BookNotValid


def kind_of(message: Message) -> str:
    if isinstance(message, BookAccess):
        return BOOK_ACCESS
    if isinstance(message, BookCheck):
        return BOOK_CHECKED
    if isinstance(message, DueReminder):
        return REMINDER
    if isinstance(message, BookNotValid):
        return BOOK_NOT_VALID
    return APPLICATION_STATUS


def in_app_of(message: Message) -> Text:
    if isinstance(message, BookAccess):
        return book_access_in_app(message)
    if isinstance(message, BookCheck):
        return book_checked_in_app(message)
    if isinstance(message, DueReminder):
        return reminder_in_app(message)
    if isinstance(message, BookNotValid):
        return not_valid_in_app(message)
    return in_app(message)


def sms_of(message: Message) -> str:
    if isinstance(message, BookAccess):
        return book_access_sms(message)
    if isinstance(message, BookCheck):
        return book_checked_sms(message)
    if isinstance(message, DueReminder):
        return reminder_sms(message)
    if isinstance(message, BookNotValid):
        return not_valid_sms(message)
    return sms(message)


def email_of(message: Message, addressee: str | None = None) -> Email:
    if isinstance(message, BookAccess):
        return book_access_email(message, addressee)
    if isinstance(message, BookCheck):
        return book_checked_email(message, addressee)
    if isinstance(message, DueReminder):
        return reminder_email(message, addressee)
    if isinstance(message, BookNotValid):
        return not_valid_email(message, addressee)
    return email(message, addressee)


def addressee(first_name: str | None, middle_name: str | None) -> str | None:
    """How a letter addresses a person: «Мария Сергеевна», or just «Мария»."""
    parts = [p.strip() for p in (first_name, middle_name) if p and p.strip()]
    return " ".join(parts) or None


# One-time codes (``DeliverOtp``): the code goes in at send time and is forgotten right after.
ONE_TIME_CODE_TEXTS: Mapping[str, str] = {
    "contact_verification": "Код подтверждения ЭМК: {code}. Никому не сообщайте его.",
    "login": "Код для входа в ЭМК: {code}. Никому не сообщайте его, даже сотрудникам.",
}
ONE_TIME_CODE_SUBJECTS: Mapping[str, str] = {
    "contact_verification": "Подтверждение адреса электронной почты — ЭМК",
    "login": "Код для входа — ЭМК",
}


def one_time_code(purpose: str, code: str) -> str:
    """The SMS, and the e-mail's body, carrying a one-time code for ``purpose``."""
    return ONE_TIME_CODE_TEXTS[purpose].format(code=code)
