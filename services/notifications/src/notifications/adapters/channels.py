"""Delivery channels behind ports: the operator's SMS gateway and mail relay in deployment,
a JSON-lines spool file and a real SMTP server (aiosmtpd) locally. A letter goes as plain
text plus HTML (``multipart/alternative``)."""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
from email.message import EmailMessage
from pathlib import Path

from emk_common.clock import Clock


class SmsSpool:
    """Appends ``{"to", "text", "at", "id"}`` lines to ``$EMK_VAR_DIR/sms.jsonl`` (``id``: the
    delivery's, the key a deduplicating gateway would take).

    One ``write`` of one line on an ``O_APPEND`` descriptor: replicas appending to the same
    file never interleave their lines.
    """

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self._clock = clock

    async def send(self, to: str, text: str, *, key: str) -> None:
        line = json.dumps(
            {"to": to, "text": text, "at": self._clock().isoformat(), "id": key},
            ensure_ascii=False,
        )
        await asyncio.to_thread(self._append, (line + "\n").encode())

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)


class SmtpSender:
    def __init__(self, host: str, port: int, sender: str, timeout: float) -> None:
        self._host, self._port, self._sender, self._timeout = host, port, sender, timeout

    async def send(
        self, to: str, subject: str, text: str, *, key: str, html: str | None = None
    ) -> None:
        """With ``html``: ``multipart/alternative``, the plain text first and the same letter
        as HTML (a mail client shows the last part it can)."""
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        # The delivery's id: a relay or mailbox that dedupes on it keeps one copy.
        message["Message-ID"] = f"<{key}@emk.local>"
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.send_message(message)
