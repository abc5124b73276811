"""The medical book: a medical organisation was given access (``book_access``), someone
checked it with a share code (``book_checked``), a due date comes near (``reminder``), it
stopped being valid (``book_not_valid``). In-app, SMS and e-mail each.

A check names neither the code (a bearer secret) nor who checked (not known); the book that
stopped being valid is never told why (expired and suspended read alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from notifications.domain.templates.common import (
    ADDRESSEE,
    MOSCOW,
    SMS_MAX_CHARS,
    capitalised,
    greeting,
    one_line,
    shown,
    signature,
    sms,
)
from notifications.domain.templates.letter import Paragraph, letter
from notifications.domain.templates.model import Kind, Rendered, Template, Values, Variable

BOOK_ACCESS = "book_access"
BOOK_CHECKED = "book_checked"
REMINDER = "reminder"
BOOK_NOT_VALID = "book_not_valid"


# --- a medical organisation was given access ----------------------------------------------

_ACCESS: Mapping[str, Variable] = {
    "organization": Variable(
        "Название медицинской организации (из реестра)",
        Kind.TEXT,
        "ГБУЗ «Городская поликлиника № 1 ДЗМ»",
    ),
    "until": Variable(
        "До какого дня (по Москве) у организации есть доступ", Kind.DATE, "2026-12-30"
    ),
    "via": Variable(
        "Как открыт доступ: visit_code — по коду визита, identifiers — по СНИЛС и номеру книжки",
        Kind.TEXT,
        "visit_code",
    ),
}
_NOT_YOU = "Если вы не обращались в эту организацию, закройте доступ в разделе «Доступ к книжке»."


def _access_sentence(values: Values) -> str:
    how = "по коду визита" if values.text("via") == "visit_code" else "по СНИЛС и номеру книжки"
    return (
        f"Медицинская организация «{values.text('organization')}» получила доступ к вашей "
        f"медицинской книжке ({how}) до {values.day('until'):%d.%m.%Y}."
    )


def _access_in_app(values: Values) -> Rendered:
    return shown("Доступ к медицинской книжке", f"{_access_sentence(values)}\n{_NOT_YOU}")


def _access_sms(values: Values) -> Rendered:
    until = f"{values.day('until'):%d.%m.%Y}"
    text = f"ЭМК: «{values.text('organization')}» получила доступ к вашей книжке до {until}."
    if len(text) > SMS_MAX_CHARS:
        text = f"ЭМК: медицинская организация получила доступ к вашей книжке до {until}."
    return sms(one_line(text))


def _access_email(values: Values) -> Rendered:
    return letter(
        "Доступ к медицинской книжке — ЭМК",
        [greeting(values), Paragraph(_access_sentence(values)), Paragraph(_NOT_YOU), signature()],
    )


# --- someone checked the book with a share code --------------------------------------------

_CHECK: Mapping[str, Variable] = {
    "checked_at": Variable(
        "Когда книжку проверили (с часовым поясом); показывается по московскому времени",
        Kind.DATETIME,
        "2026-11-29T09:30:00+00:00",
    ),
}
_NOT_YOURS = "Если вы не передавали код, отзовите его в разделе «Доступ к книжке»."
_ONCE_A_DAY = (
    "О повторных проверках по этому коду в тот же день мы не сообщаем: "
    "их число видно рядом с кодом."
)


def _when(moment: datetime) -> str:
    """«29.11.2026 в 12:30», in Moscow time, whatever offset the moment carries."""
    return f"{moment.astimezone(MOSCOW):%d.%m.%Y в %H:%M}"


def _check_sentence(values: Values) -> str:
    when = _when(values.moment("checked_at"))
    return f"Вашу медицинскую книжку проверили по коду доступа {when} (МСК)."


def _check_in_app(values: Values) -> Rendered:
    body = "\n".join([_check_sentence(values), _NOT_YOURS, _ONCE_A_DAY])
    return shown("Проверка медицинской книжки", body)


def _check_sms(values: Values) -> Rendered:
    """Always the same length (a fixed date format): well within one SMS."""
    return sms(
        one_line(
            f"ЭМК: вашу медицинскую книжку проверили по коду доступа "
            f"{_when(values.moment('checked_at'))} МСК. "
            "Если вы не передавали код, отзовите его в личном кабинете."
        )
    )


def _check_email(values: Values) -> Rendered:
    blocks = [greeting(values), Paragraph(_check_sentence(values))]
    blocks += [Paragraph(_NOT_YOURS), Paragraph(_ONCE_A_DAY), signature()]
    return letter("Проверка медицинской книжки — ЭМК", blocks)


# --- a due date comes near ------------------------------------------------------------------

# What falls due, in the genitive: «истекает срок периодического медицинского осмотра».
_DUE_WHAT: Mapping[str, str] = {
    "periodic_exam": "периодического медицинского осмотра",
    "attestation": "гигиенической аттестации",
    "vaccination": "очередной вакцинации",
}
_REMINDER: Mapping[str, Variable] = {
    "due_kind": Variable(
        "Что истекает: periodic_exam — периодический медосмотр, attestation — гигиеническая "
        "аттестация, vaccination — вакцинация (другое — как есть)",
        Kind.TEXT,
        "periodic_exam",
    ),
    "due_date": Variable("Когда истекает срок", Kind.DATE, "2027-03-12"),
    "days_left": Variable(
        "Сколько дней (по Москве) остаётся, когда напоминание уходит: 0 — «сегодня», 1 — «завтра»",
        Kind.INTEGER,
        7,
    ),
}
_BOOK_IT = "Запишитесь в медицинскую организацию заранее, чтобы книжка не перестала действовать."


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


def _what(values: Values) -> str:
    due_kind = values.text("due_kind")
    return _DUE_WHAT.get(due_kind, due_kind)


def _due_sentence(values: Values) -> str:
    days, due_date = values.integer("days_left"), values.day("due_date")
    return capitalised(f"{days_phrase(days)}, {due_date:%d.%m.%Y}, истекает срок {_what(values)}.")


def _reminder_in_app(values: Values) -> Rendered:
    return shown("Напоминание о сроке", f"{_due_sentence(values)}\n{_BOOK_IT}")


def _reminder_sms(values: Values) -> Rendered:
    sentence = _due_sentence(values)
    return sms(one_line(f"ЭМК: {sentence[:1].lower()}{sentence[1:]}"))


def _reminder_email(values: Values) -> Rendered:
    return letter(
        f"Напоминание: срок {_what(values)} — ЭМК",
        [greeting(values), Paragraph(_due_sentence(values)), Paragraph(_BOOK_IT), signature()],
    )


# --- the book stopped being valid -----------------------------------------------------------

_NOT_VALID: Mapping[str, Variable] = {
    "book_number": Variable(
        "Номер медицинской книжки; null — книжка не называется по номеру",
        Kind.OPTIONAL_TEXT,
        "77-01-000123-26",
    ),
}
_WHAT_NOW = "Подробности и что сделать, чтобы она снова действовала, — в личном кабинете."


def _not_valid_sentence(values: Values) -> str:
    number = values.optional("book_number")
    named = f" № {number}" if number else ""
    return f"Ваша медицинская книжка{named} больше не действует."


def _not_valid_in_app(values: Values) -> Rendered:
    body = f"{_not_valid_sentence(values)}\n{_WHAT_NOW}"
    return shown("Медицинская книжка не действует", body)


def _not_valid_sms(values: Values) -> Rendered:
    return sms(one_line(f"ЭМК: {_not_valid_sentence(values)} Подробности в личном кабинете."))


def _not_valid_email(values: Values) -> Rendered:
    return letter(
        "Медицинская книжка не действует — ЭМК",
        [
            greeting(values),
            Paragraph(_not_valid_sentence(values)),
            Paragraph(_WHAT_NOW),
            signature(),
        ],
    )


def _without(variables: Mapping[str, Variable], name: str) -> Mapping[str, Variable]:
    return {key: variable for key, variable in variables.items() if key != name}


def _with_addressee(variables: Mapping[str, Variable]) -> Mapping[str, Variable]:
    return {**variables, "addressee": ADDRESSEE}


_ABOUT_ACCESS = "Медицинской организации открыт доступ к книжке"
_ABOUT_CHECK = "Книжку проверили по коду доступа (не чаще раза в день на код)"
_ABOUT_REMINDER = "Напоминание: приближается срок медосмотра, аттестации или вакцинации"
_ABOUT_NOT_VALID = "Медицинская книжка перестала действовать (без причины)"

TEMPLATES = (
    Template(BOOK_ACCESS, "in_app", 1, _ABOUT_ACCESS, _ACCESS, _access_in_app),
    # The SMS says who and until when, not how.
    Template(BOOK_ACCESS, "sms", 1, _ABOUT_ACCESS, _without(_ACCESS, "via"), _access_sms),
    Template(BOOK_ACCESS, "email", 1, _ABOUT_ACCESS, _with_addressee(_ACCESS), _access_email),
    Template(BOOK_CHECKED, "in_app", 1, _ABOUT_CHECK, _CHECK, _check_in_app),
    Template(BOOK_CHECKED, "sms", 1, _ABOUT_CHECK, _CHECK, _check_sms),
    Template(BOOK_CHECKED, "email", 1, _ABOUT_CHECK, _with_addressee(_CHECK), _check_email),
    Template(REMINDER, "in_app", 1, _ABOUT_REMINDER, _REMINDER, _reminder_in_app),
    Template(REMINDER, "sms", 1, _ABOUT_REMINDER, _REMINDER, _reminder_sms),
    Template(REMINDER, "email", 1, _ABOUT_REMINDER, _with_addressee(_REMINDER), _reminder_email),
    Template(BOOK_NOT_VALID, "in_app", 1, _ABOUT_NOT_VALID, _NOT_VALID, _not_valid_in_app),
    Template(BOOK_NOT_VALID, "sms", 1, _ABOUT_NOT_VALID, _NOT_VALID, _not_valid_sms),
    Template(
        BOOK_NOT_VALID,
        "email",
        1,
        _ABOUT_NOT_VALID,
        _with_addressee(_NOT_VALID),
        _not_valid_email,
    ),
)
