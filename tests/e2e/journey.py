"""What a person does through the HTTP API, and where their codes arrive."""

from __future__ import annotations

import random
import uuid
from email.message import Message
from typing import Any

import httpx

from emk_devstack.demo import CODE as CODE  # the tests match codes the same way
from emk_devstack.demo import Delivered, valid_snils


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


class Inbox(Delivered):
    """The local SMS spool and Maildir of a running stack, as the demo reads them."""

    def sms_texts(self, phone: str) -> list[str]:
        return self.sms(phone)

    def mails(self, address: str) -> list[Message]:
        return self.messages(address)

    async def sms_code(self, phone: str, *, after: int = 0) -> str:
        return await self.code(phone, after)

    async def mail_code(self, address: str, *, after: int = 0) -> str:
        return await self.code(address, after)


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
