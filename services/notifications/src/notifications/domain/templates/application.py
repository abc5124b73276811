"""An application changed status (``application_status``): in-app, SMS and e-mail. An issued
book is told here too: the status ``issued`` with the book's number.

The Russian names of the status, fields and documents are the applications service's
vocabulary and come with the event; a name it does not give is shown as it is. The SMS is
one short line; the e-mail and the in-app notification say everything, including, for a
clarification or a rejection, the comment and what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from notifications.domain.templates.common import (
    ADDRESSEE,
    SMS_MAX_CHARS,
    capitalised,
    greeting,
    one_line,
    shown,
    signature,
    sms,
)
from notifications.domain.templates.letter import Block, Paragraph, Points, letter
from notifications.domain.templates.model import Kind, Rendered, Template, Values, Variable

APPLICATION_STATUS = "application_status"

# The statuses after which the applicant has something to fix.
WITH_FIXES = frozenset({"clarification_requested", "rejected"})
# An SMS names at most this many things to fix.
SMS_FIXES = 3

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

_NUMBER = Variable(
    "Номер заявления; null у черновика без номера — тогда просто «заявление»",
    Kind.OPTIONAL_TEXT,
    "2026-000123",
)
_STATUS = Variable(
    "Код статуса: draft, submitted, in_review, clarification_requested, approved, rejected, "
    "issued; от него зависят следующий шаг и список исправлений",
    Kind.TEXT,
    "clarification_requested",
)
_STATUS_LABEL = Variable(
    "Название статуса по-русски, как его прислала служба заявлений; null — показывается код",
    Kind.OPTIONAL_TEXT,
    "Требуется уточнение",
)
_COMMENT = Variable(
    "Комментарий специалиста (clarification_requested) или причина отказа (rejected); "
    "при других статусах не показывается",
    Kind.OPTIONAL_TEXT,
    "Скан нечитаем,\nпересканируйте первую страницу",
)
_FIXES = Variable(
    "Что нужно исправить: названия полей и документов по-русски (неизвестное — как есть); "
    "показываются только при clarification_requested и rejected",
    Kind.TEXT_LIST,
    ["ИНН работодателя", "Скан паспорта"],
)
_BOOK_NUMBER = Variable(
    "Номер выданной медицинской книжки (при статусе issued); null — не называется",
    Kind.OPTIONAL_TEXT,
    None,
)


@dataclass(frozen=True)
class _Change:
    number: str | None
    status: str
    label: str
    fixes: tuple[str, ...]
    book_number: str | None

    @classmethod
    def of(cls, values: Values) -> _Change:
        status = values.text("status")
        fixes = values.texts("fixes")
        return cls(
            number=values.optional("number"),
            status=status,
            label=values.optional("status_label") or status,
            fixes=fixes if status in WITH_FIXES else (),
            book_number=values.optional("book_number"),
        )

    @property
    def book(self) -> str | None:
        """«Номер медицинской книжки: …», once the book is issued."""
        return f"Номер медицинской книжки: {self.book_number}." if self.book_number else None


def _application(number: str | None, *, genitive: bool = False) -> str:
    word = "заявления" if genitive else "заявление"
    return f"{word} № {number}" if number else word


def _comment(change: _Change, values: Values) -> str | None:
    comment = values.optional("comment")
    return comment if change.status in WITH_FIXES and comment else None


def _in_app(values: Values) -> Rendered:
    """The notification in the personal account: a title and the whole story."""
    change = _Change.of(values)
    comment = _comment(change, values)
    title = f"{capitalised(_application(change.number))}: {change.label}"
    lines = [f"Статус {_application(change.number, genitive=True)} изменился: «{change.label}»."]
    if comment:
        lines.append(f"{_COMMENT_HEADING[change.status]}: {comment}")
    if change.fixes:
        lines.append(f"Что нужно исправить: {'; '.join(change.fixes)}.")
    if change.status in _NEXT_STEP:
        lines.append(_NEXT_STEP[change.status])
    if change.book:
        lines.append(change.book)
    return shown(title, "\n".join(lines))


def _sms(values: Values) -> Rendered:
    """One short line: the number, the status, and the first few things to fix."""
    change = _Change.of(values)
    head = f"ЭМК: {_application(change.number)} — «{change.label}»."
    if change.status not in WITH_FIXES:
        return sms(one_line(f"{head} {change.book}" if change.book else head))
    fixes = [one_line(label) for label in change.fixes]
    tail = " Подробнее в личном кабинете."
    # As many things to fix as fit (at most a few), the rest counted.
    for shown_ in range(min(len(fixes), SMS_FIXES), 0, -1):
        more = len(fixes) - shown_
        named = f" Исправьте: {', '.join(fixes[:shown_])}" + (f" и ещё {more}." if more else ".")
        text = one_line(head + named + tail)
        if len(text) <= SMS_MAX_CHARS:
            return sms(text)
    if fixes:
        return sms(one_line(f"{head} Что исправить — в личном кабинете."))
    return sms(one_line(head + tail))


def _email(values: Values) -> Rendered:
    """A letter: the subject says the number and the status; the body, everything."""
    change = _Change.of(values)
    comment = _comment(change, values)
    subject = f"{capitalised(_application(change.number))}: {change.label} — ЭМК"
    blocks: list[Block] = [
        greeting(values),
        Paragraph(
            f"Статус вашего {_application(change.number, genitive=True)} на оформление "
            f"электронной медицинской книжки изменился: «{change.label}»."
        ),
    ]
    if comment:
        blocks.append(Paragraph(f"{_COMMENT_HEADING[change.status]}:\n{comment}"))
    if change.fixes:
        blocks.append(Points("Что нужно исправить", change.fixes))
    if change.status in _NEXT_STEP:
        blocks.append(Paragraph(_NEXT_STEP[change.status]))
    if change.book:
        blocks.append(Paragraph(change.book))
    blocks.append(signature())
    return letter(subject, blocks)


_ABOUT = "Статус заявления изменился (при статусе issued — и номер выданной книжки)"
_SHARED = {
    "number": _NUMBER,
    "status": _STATUS,
    "status_label": _STATUS_LABEL,
    "fixes": _FIXES,
    "book_number": _BOOK_NUMBER,
}

TEMPLATES = (
    Template(APPLICATION_STATUS, "in_app", 1, _ABOUT, {**_SHARED, "comment": _COMMENT}, _in_app),
    # The comment is for the e-mail and the account, never an SMS.
    Template(APPLICATION_STATUS, "sms", 1, _ABOUT, _SHARED, _sms),
    Template(
        APPLICATION_STATUS,
        "email",
        1,
        _ABOUT,
        {**_SHARED, "comment": _COMMENT, "addressee": ADDRESSEE},
        _email,
    ),
)
