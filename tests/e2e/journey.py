"""What a person does through the HTTP API, and where their codes arrive."""

from __future__ import annotations

import json
import mailbox
import random
import re
import uuid
from email.message import Message
from pathlib import Path
from typing import Any

import httpx

from emk_common.testing import eventually

CODE = re.compile(r"\b(\d{6})\b")


def valid_snils() -> str:
    """A random СНИЛС with a correct check number (DOMAIN.md's rule)."""
    while True:
        digits = [random.randint(0, 9) for _ in range(9)]
        if int("".join(map(str, digits))) > 1_001_998:
            break
    total = sum(d * (9 - i) for i, d in enumerate(digits))
    check = total if total < 100 else 0 if total in (100, 101) else total % 101
    check = 0 if check == 100 else check
    body = "".join(map(str, digits))
    return f"{body[:3]}-{body[3:6]}-{body[6:]} {check:02d}"


def new_person() -> dict[str, Any]:
    return {
        "last_name": "Иванова",
        "first_name": "Мария",
        "middle_name": "Сергеевна",
        "birth_date": "1990-05-17",
        "sex": "F",
        "phone": f"+79{random.randint(0, 999_999_999):09d}",
        "email": f"maria.{uuid.uuid4().hex[:10]}@example.ru",
        "password": "Снег-на-крыше-2026",
        "snils": valid_snils(),
    }


class Inbox:
    """The local SMS spool and Maildir of a running stack."""

    def __init__(self, var_dir: Path) -> None:
        self.sms = var_dir / "sms.jsonl"
        self.mail = var_dir / "mail"

    def sms_texts(self, phone: str) -> list[str]:
        if not self.sms.exists():
            return []
        lines = [
            json.loads(line) for line in self.sms.read_text(encoding="utf-8").splitlines() if line
        ]
        return [line["text"] for line in lines if line["to"] == phone]

    def mails(self, address: str) -> list[Message]:
        if not self.mail.exists():
            return []
        box = mailbox.Maildir(self.mail, create=False)
        # A Maildir lists in no particular order: the newest must come last.
        found = sorted(
            (m.get_date(), key, m) for key, m in box.iteritems() if address in str(m["To"])
        )
        return [m for _, _, m in found]

    async def sms_code(self, phone: str, *, after: int = 0) -> str:
        async def probe() -> list[str]:
            return self.sms_texts(phone)[after:]

        texts = await eventually(probe, within=30, what=f"an SMS to {phone}")
        found = CODE.search(texts[-1])
        assert found is not None
        return found.group(1)

    async def mail_code(self, address: str, *, after: int = 0) -> str:
        async def probe() -> list[Message]:
            return self.mails(address)[after:]

        messages = await eventually(probe, within=30, what=f"an e-mail to {address}")
        body = messages[-1].get_payload(decode=True)
        assert isinstance(body, bytes)
        found = CODE.search(body.decode())
        assert found is not None
        return found.group(1)


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def login(
    http: httpx.AsyncClient, inbox: Inbox, login_as: str, password: str, *, channel_target: str
) -> dict[str, Any]:
    sent_before = (
        len(inbox.sms_texts(channel_target))
        if channel_target.startswith("+")
        else len(inbox.mails(channel_target))
    )
    started = await http.post(
        "/api/v1/identity/login", json={"login": login_as, "password": password}
    )
    assert started.status_code == 200, started.text
    challenge = started.json()
    if challenge["channel"] == "sms":
        code = await inbox.sms_code(channel_target, after=sent_before)
    else:
        code = await inbox.mail_code(channel_target, after=sent_before)
    verified = await http.post(
        "/api/v1/identity/login/verify",
        json={"challenge_id": challenge["challenge_id"], "code": code},
    )
    assert verified.status_code == 200, verified.text
    tokens: dict[str, Any] = verified.json()
    return tokens
