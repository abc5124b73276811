"""A status change reaches the citizen by SMS, e-mail and in-app, through the running platform.

The citizen registers and confirms contacts through identity; the status change is
published to ``emk.applications`` the way the applications service publishes it (an
envelope keyed by the application id); the messages are read where a person reads them:
the SMS spool, the Maildir and the notifications API.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from applications.domain import vocabulary
from emk_common.catalog import APPLICATIONS, ApplicationStatusChanged
from emk_common.events import EVENT_CONTENT_TYPE, Envelope
from emk_devstack.stack import Stack
from emk_testing import eventually

from .journey import Inbox, bearer, login, new_person

NOTIFICATIONS = "/api/v1/notifications"


@dataclass
class Citizen:
    user_id: str
    phone: str
    email: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens)


@pytest.fixture
async def identity(platform: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.service_url("identity"), timeout=30) as http:
        yield http


@pytest.fixture
async def notifications(platform: Stack) -> AsyncIterator[httpx.AsyncClient]:
    base = platform.service_url("notifications")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        yield http


@pytest.fixture
def inbox(platform: Stack) -> Inbox:
    return Inbox(platform.var_dir)


@pytest.fixture
async def producer(platform: Stack, kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await kafka.start()
    yield kafka
    await kafka.stop()


async def confirmed_citizen(identity: httpx.AsyncClient, inbox: Inbox) -> Citizen:
    """Registered, both contacts confirmed with the codes that arrived, signed in."""
    person = new_person()
    registered = await identity.post("/api/v1/identity/register", json=person)
    assert registered.status_code == 201, registered.text
    user_id = registered.json()["user_id"]
    for channel, code in (
        ("sms", await inbox.sms_code(person["phone"])),
        ("email", await inbox.mail_code(person["email"])),
    ):
        verified = await identity.post(
            "/api/v1/identity/contacts/verify",
            json={"user_id": user_id, "channel": channel, "code": code},
        )
        assert verified.status_code == 200, verified.text
    tokens = await login(
        identity, inbox, person["email"], person["password"], channel_target=person["phone"]
    )
    return Citizen(user_id, person["phone"], person["email"], tokens)


def status_changed(who: Citizen, status: str, number: str, **rest: Any) -> Envelope:
    """The event as the applications service publishes it, with its Russian names."""
    fields, documents = rest.pop("fields", []), rest.pop("documents", [])
    event = ApplicationStatusChanged(
        application_id=rest.pop("application_id", str(uuid.uuid4())),
        applicant_id=who.user_id,
        number=number,
        status=status,
        changed_by="operator-e2e",
        fields=fields,
        documents=documents,
        status_label=vocabulary.STATUS_LABELS[status],
        field_labels={path: vocabulary.label_of(path) for path in fields},
        document_labels={kind: vocabulary.document_label(kind) for kind in documents},
        **rest,
    )
    return Envelope.wrap(event, source="applications", subject=event.application_id)


async def publish(producer: AIOKafkaProducer, envelope: Envelope) -> None:
    # As the outbox relay publishes: keyed by the aggregate, CloudEvents headers.
    await producer.send_and_wait(
        APPLICATIONS,
        envelope.to_bytes(),
        key=envelope.subject.encode(),
        headers=[
            ("content-type", EVENT_CONTENT_TYPE.encode()),
            ("ce_id", envelope.id.encode()),
            ("ce_type", envelope.type.encode()),
        ],
    )


def new_number() -> str:
    return f"2026-{random.randint(0, 999_999):06d}"


def subject_of(message: Message) -> str:
    return str(make_header(decode_header(str(message["Subject"]))))


def body_of(message: Message) -> str:
    """The plain text part (a letter is ``multipart/alternative``: text, then HTML)."""
    [plain] = [part for part in message.walk() if part.get_content_type() == "text/plain"]
    payload = plain.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


async def sms_about(inbox: Inbox, who: Citizen, number: str) -> list[str]:
    async def probe() -> list[str]:
        return [t for t in inbox.sms_texts(who.phone) if number in t]

    return await eventually(probe, within=30, what=f"an SMS about {number}")


async def mail_about(inbox: Inbox, who: Citizen, number: str) -> Message:
    async def probe() -> list[Message]:
        return [m for m in inbox.mails(who.email) if number in subject_of(m)]

    [message] = await eventually(probe, within=30, what=f"an e-mail about {number}")
    return message


async def in_app(http: httpx.AsyncClient, who: Citizen, number: str) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        page = await http.get(NOTIFICATIONS, headers=who.headers)
        assert page.status_code == 200, page.text
        return [i for i in page.json()["items"] if i["number"] == number]

    return await eventually(probe, within=30, what=f"an in-app notification about {number}")


async def deliveries_of(
    mongo: AsyncMongoClient[dict[str, Any]], envelope: Envelope
) -> list[dict[str, Any]]:
    return (
        await mongo["emk_notifications"]["deliveries"]
        .find({"trigger_event_id": envelope.id})
        .to_list()
    )


async def test_a_clarification_reaches_the_citizen_by_sms_email_and_in_app(
    identity: httpx.AsyncClient,
    notifications: httpx.AsyncClient,
    inbox: Inbox,
    producer: AIOKafkaProducer,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    anna = await confirmed_citizen(identity, inbox)
    number = new_number()
    envelope = status_changed(
        anna,
        "clarification_requested",
        number,
        previous_status="in_review",
        comment="Скан паспорта нечитаем",
        fields=["employer.inn"],
        documents=["passport"],
    )
    await publish(producer, envelope)

    [sms] = await sms_about(inbox, anna, number)
    assert sms == (
        f"ЭМК: заявление № {number} — «Требуется уточнение». Исправьте: ИНН работодателя, "
        "Скан паспорта. Подробнее в личном кабинете."
    )
    mail = await mail_about(inbox, anna, number)
    assert subject_of(mail) == f"Заявление № {number}: Требуется уточнение — ЭМК"
    body = body_of(mail)
    assert body.startswith("Здравствуйте, Мария Сергеевна!")
    assert "Комментарий специалиста:\nСкан паспорта нечитаем" in body
    assert "— ИНН работодателя\n— Скан паспорта" in body

    [shown] = await in_app(notifications, anna, number)
    assert shown["title"] == f"Заявление № {number}: Требуется уточнение"
    assert shown["status_label"] == "Требуется уточнение"
    assert "Что нужно исправить: ИНН работодателя; Скан паспорта." in shown["text"]
    assert shown["read_at"] is None

    async def settled() -> list[dict[str, Any]]:
        docs = await deliveries_of(mongo, envelope)
        return docs if all(d["state"] == "sent" for d in docs) else []

    docs = await eventually(settled, what="both deliveries recorded as sent")
    assert sorted(d["channel"] for d in docs) == ["email", "sms"]
    stored = str(docs) + str(
        await mongo["emk_notifications"]["notifications"].find({"user_id": anna.user_id}).to_list()
    )
    assert anna.phone not in stored
    assert anna.email not in stored


async def test_with_sms_turned_off_only_the_email_and_in_app_arrive(
    identity: httpx.AsyncClient,
    notifications: httpx.AsyncClient,
    inbox: Inbox,
    producer: AIOKafkaProducer,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    anna = await confirmed_citizen(identity, inbox)
    turned_off = await notifications.put(
        f"{NOTIFICATIONS}/preferences",
        headers=anna.headers,
        json={"sms": False, "email": True, "reminders_days_before": [30, 7]},
    )
    assert turned_off.status_code == 200, turned_off.text
    number = new_number()
    envelope = status_changed(anna, "approved", number, previous_status="in_review")
    await publish(producer, envelope)

    mail = await mail_about(inbox, anna, number)
    assert subject_of(mail) == f"Заявление № {number}: Одобрено — ЭМК"
    await in_app(notifications, anna, number)

    async def email_sent() -> list[dict[str, Any]]:
        docs = await deliveries_of(mongo, envelope)
        return docs if any(d["state"] == "sent" for d in docs) else []

    # The handler writes every channel's delivery in one transaction: seeing the e-mail's
    # means there would be an SMS one by now.
    docs = await eventually(email_sent, what="the e-mail delivery recorded")
    assert [d["channel"] for d in docs] == ["email"]
    assert [t for t in inbox.sms_texts(anna.phone) if number in t] == []


async def test_a_redelivered_event_notifies_once(
    identity: httpx.AsyncClient,
    notifications: httpx.AsyncClient,
    inbox: Inbox,
    producer: AIOKafkaProducer,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    anna = await confirmed_citizen(identity, inbox)
    application_id = str(uuid.uuid4())
    number = new_number()
    first = status_changed(anna, "submitted", number, application_id=application_id)
    await publish(producer, first)
    await sms_about(inbox, anna, "«Принято»")
    await mail_about(inbox, anna, number)
    await publish(producer, first)  # the same envelope id again
    # Same key, same partition: once the next event is handled, the repeat was handled too.
    after = status_changed(anna, "in_review", number, application_id=application_id)
    await publish(producer, after)
    await sms_about(inbox, anna, "«В обработке»")

    shown = await in_app(notifications, anna, number)
    assert [i["status"] for i in shown] == ["in_review", "submitted"]
    stored = mongo["emk_notifications"]["notifications"]
    assert await stored.count_documents({"trigger_event_id": first.id}) == 1
    assert len(await deliveries_of(mongo, first)) == 2
    assert len([t for t in inbox.sms_texts(anna.phone) if "«Принято»" in t]) == 1
    assert len([m for m in inbox.mails(anna.email) if "Принято" in subject_of(m)]) == 1
