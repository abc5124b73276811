"""Issuing the book on an approved application: exactly once per person, whatever arrives
twice or at once, and waiting out a peer that is down."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from emk_common import catalog
from emk_common.events import Envelope
from emk_testing import Caller, TopicTap, eventually

from .conftest import RecordsApp


async def test_an_approval_issues_a_book_with_a_number_of_the_holders_region(
    service: RecordsApp, published: TopicTap
) -> None:
    citizen, book = await service.issue(region="86")
    assert re.fullmatch(r"86-01-\d{6}-26", book.number)
    assert book.holder.last_name == "Иванов"
    assert [p.employer_name for p in book.positions] == ["ООО «Ромашка»"]
    issued = await published.wait(book.id, "MedicalBookIssued")
    assert issued[0].data["number"] == book.number
    due = await published.wait(book.id, "BookDueDatesChanged")
    assert {d["kind"] for d in due[0].data["due"]} == {"periodic_exam", "attestation"}
    async with service.client(citizen) as http:
        shown = (await http.get("/api/v1/records/book")).json()
    assert shown["number"] == book.number
    assert shown["status"] == "expired"
    assert shown["status_label"] == "Не действует"
    assert shown["holder"] == {
        "last_name": "Иванов",
        "first_name": "Иван",
        "middle_name": "Иванович",
        "birth_date": "1990-05-17",
    }


async def test_a_redelivered_approval_changes_nothing(
    service: RecordsApp, published: TopicTap
) -> None:
    citizen = Caller.new()
    service.peers.person(citizen.user_id)
    approved = catalog.ApplicationApproved(
        application_id=uuid.uuid4().hex, applicant_id=citizen.user_id, number="2026-000002"
    )
    await service.records.issue(approved)
    await service.records.issue(approved)
    book = await service.records.store.of_holder(citizen.user_id)
    assert book is not None
    assert len(book.positions) == 1
    assert book.version == 1
    await published.wait(book.id, "BookDueDatesChanged")
    assert len(published.of(book.id, "MedicalBookIssued")) == 1
    assert published.of(book.id, "PositionAdded") == []


async def _approve(kafka_bootstrap: str, *approvals: catalog.ApplicationApproved) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for approved in approvals:
            envelope = Envelope.wrap(
                approved, source="applications", subject=approved.application_id
            )
            await producer.send_and_wait(
                catalog.APPLICATIONS, envelope.to_bytes(), key=approved.application_id.encode()
            )
    finally:
        await producer.stop()


async def test_two_approvals_of_one_person_at_once_give_one_book_and_two_positions(
    service: RecordsApp, published: TopicTap, kafka_bootstrap: str
) -> None:
    citizen = Caller.new()
    service.peers.person(citizen.user_id)
    first, second = (
        catalog.ApplicationApproved(
            application_id=uuid.uuid4().hex, applicant_id=citizen.user_id, number=n
        )
        for n in ("2026-000010", "2026-000011")
    )
    # Handled at once: each as a replica would, through the consumer and directly.
    await asyncio.gather(_approve(kafka_bootstrap, first), _issue_retrying(service, second))

    async def both_positions() -> Any:
        book = await service.records.store.of_holder(citizen.user_id)
        return book if book is not None and len(book.positions) == 2 else None

    book = await eventually(both_positions, within=30, what="both positions")
    await published.wait(book.id, "PositionAdded")
    assert len(published.of(book.id, "MedicalBookIssued")) == 1
    added = published.of(book.id, "PositionAdded")
    issued = published.of(book.id, "MedicalBookIssued")
    assert {e.data["application_id"] for e in added + issued} == {
        first.application_id,
        second.application_id,
    }


async def _issue_retrying(service: RecordsApp, approved: catalog.ApplicationApproved) -> None:
    """What the consumer does with ``RetryLater``: try again."""
    from emk_common.kafka import RetryLater

    for _ in range(20):
        try:
            await service.records.issue(approved)
            return
        except RetryLater:
            await asyncio.sleep(0.05)
    raise AssertionError("the approval never went through")


async def test_identity_down_while_issuing_is_waited_for_not_dead_lettered(
    service: RecordsApp, kafka_bootstrap: str, published: TopicTap
) -> None:
    citizen = Caller.new()
    service.peers.person(citizen.user_id)
    approved = catalog.ApplicationApproved(
        application_id=uuid.uuid4().hex, applicant_id=citizen.user_id, number="2026-000020"
    )
    service.peers.down = True
    calls_before = service.peers.calls
    try:
        await _approve(kafka_bootstrap, approved)
        # Twice the attempts that would dead-letter a failing handler.
        attempts = 2 * service.records.settings.consumer_max_attempts

        async def tried_enough() -> bool:
            return service.peers.calls - calls_before >= attempts

        await eventually(tried_enough, within=30, what="the consumer retrying")
        assert await service.records.store.of_holder(citizen.user_id) is None
    finally:
        service.peers.down = False

    async def issued() -> Any:
        return await service.records.store.of_holder(citizen.user_id)

    book = await eventually(issued, within=30, what="the book, once identity answers")
    await published.wait(book.id, "MedicalBookIssued")


async def test_a_change_of_personal_data_reaches_the_book(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    service.peers.person(citizen.user_id, last_name="Смирнов")
    await service.records.refresh_holder(citizen.user_id)
    async with service.client(citizen) as http:
        shown = (await http.get("/api/v1/records/book")).json()
    assert shown["holder"]["last_name"] == "Смирнов"
    assert shown["number"] == book.number


async def test_the_holder_is_encrypted_at_rest(
    service: RecordsApp, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, book = await service.issue(last_name="Зайцева")
    stored = await mongo[service.records.settings.mongodb_database]["books"].find_one(
        {"_id": book.id}
    )
    assert stored is not None
    text = repr(stored)
    assert "Зайцева" not in text
    assert book.holder.snils not in text
