"""A letter goes as plain text plus the same as HTML: the dispatcher hands both to the mail
port, and ``SmtpSender`` sends them as ``multipart/alternative``. A one-time code's letter
too, and no log line carries the code."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from emk_common.catalog import DeliverOtp
from notifications.adapters.channels import SmtpSender

from .fakes import sealed_code
from .test_service import CODE, EMAIL, PRIVATE, Rig


class CapturingSmtp(SmtpSender):
    """Builds the message as the real sender does; keeps it instead of connecting."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 9, "ЭМК <noreply@emk.local>", 1.0)
        self.messages: list[EmailMessage] = []

    def _deliver(self, message: EmailMessage) -> None:
        self.messages.append(message)


def _reread(message: EmailMessage) -> EmailMessage:
    """As the receiving side parses what went over the wire."""
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def test_smtp_sends_text_and_html_as_alternatives() -> None:
    smtp = CapturingSmtp()
    html = '<!DOCTYPE html>\n<p style="margin:0">Здравствуйте, Анна!</p>'
    await smtp.send("anna@example.ru", "Тема — ЭМК", "Здравствуйте, Анна!", key="d1", html=html)
    sent = _reread(smtp.messages[0])
    assert sent.get_content_type() == "multipart/alternative"
    assert sent["Message-ID"] == "<d1@emk.local>"
    assert sent["Subject"] == "Тема — ЭМК"
    plain, rich = sent.iter_parts()
    assert isinstance(plain, EmailMessage)
    assert isinstance(rich, EmailMessage)
    assert (plain.get_content_type(), rich.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content().rstrip("\n") == "Здравствуйте, Анна!"
    assert rich.get_content().rstrip("\n") == html
    assert rich.get_content_charset() == "utf-8"


async def test_smtp_without_html_sends_plain_text_alone() -> None:
    smtp = CapturingSmtp()
    await smtp.send("anna@example.ru", "Тема", "Текст", key="d2")
    sent = _reread(smtp.messages[0])
    assert sent.get_content_type() == "text/plain"
    assert sent.get_content().rstrip("\n") == "Текст"


async def test_the_dispatcher_sends_each_letter_with_its_html() -> None:
    rig = Rig()
    await rig.status_change()
    assert await rig.dispatcher.drain() == 2
    [(_, subject, text)] = rig.email.sent
    [html] = rig.email.htmls
    assert html is not None
    assert f"<title>{subject}</title>" in html
    assert "Здравствуйте, Анна Игоревна!" in html
    assert "Скан паспорта</li>" in html
    assert text.startswith("Здравствуйте, Анна Игоревна!\n\n")


async def test_a_code_by_email_goes_as_text_and_html_and_is_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = Rig()
    event_id = str(uuid.uuid4())
    expires_at = rig.clock() + timedelta(minutes=5)
    public = PRIVATE.public_key().public_bytes_raw()
    command = DeliverOtp(
        user_id="u1", channel="email", purpose="login", expires_at=expires_at,
        sealed=sealed_code(public, event_id, EMAIL, CODE, expires_at),
    )  # fmt: skip
    await rig.service.stage_one_time_code(command, event_id, None)
    assert await rig.dispatcher.drain() == 1
    text = f"Код для входа в ЭМК: {CODE}. Никому не сообщайте его, даже сотрудникам."
    assert rig.email.sent == [(EMAIL, "Код для входа — ЭМК", text)]
    [html] = rig.email.htmls
    assert html is not None
    assert f'<p style="margin:0 0 16px 0;">{text}</p>' in html
    assert CODE not in caplog.text
