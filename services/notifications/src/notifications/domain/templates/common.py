"""What the templates share: the SMS length, Moscow time, the greeting and the signature."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from notifications.domain.templates.letter import Paragraph
from notifications.domain.templates.model import Kind, Rendered, Values, Variable

# An SMS is one line within this length.
SMS_MAX_CHARS = 160
MOSCOW = ZoneInfo("Europe/Moscow")
SIGNATURE = (
    "Это письмо отправлено автоматически, отвечать на него не нужно.\n"
    "Электронная медицинская книжка (ЭМК)"
)
_SPACES = re.compile(r"\s+")

# Every e-mail but a one-time code's greets the person by first name and patronymic.
ADDRESSEE = Variable(
    "Как письмо обращается к человеку: имя и отчество («Мария Сергеевна») или только имя; "
    "null — «Здравствуйте!»",
    Kind.OPTIONAL_TEXT,
    "Мария Сергеевна",
)


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def greeting(values: Values) -> Paragraph:
    addressee = values.optional("addressee")
    return Paragraph(f"Здравствуйте, {addressee}!" if addressee else "Здравствуйте!")


def signature() -> Paragraph:
    return Paragraph(SIGNATURE, quiet=True)


def shown(title: str, text: str) -> Rendered:
    """An in-app notification."""
    return Rendered(title=title, text=text)


def sms(text: str) -> Rendered:
    return Rendered(text=text)
