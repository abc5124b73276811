"""Kafka restarted in the middle of a journey — right after the submission, while its event is
being published and consumed; right after the operator took the application and verified its
documents; and the moment records has issued the book, its event on the way — loses nothing
and applies nothing twice: the history holds each status change once, the citizen
gets each SMS once, the book is issued once, and no consumer dead-lettered anything.

Tansu keeps its log in S3 here (``kafka_storage="s3"``), as a Kafka keeps it on disk: what was
acknowledged before the restart is there after it, and each consumer group goes on from the
offsets it committed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from emk_devstack.demo import Journey
from emk_devstack.stack import Ports, Stack
from emk_testing import eventually

from .support import (
    REASON,
    Doc,
    citizen_with_a_draft,
    dead_letters,
    operator_token,
    patient,
    told_exactly_once,
)


async def restart_kafka(stack: Stack) -> None:
    started = time.monotonic()
    await asyncio.to_thread(stack.stop_server, "kafka")
    await asyncio.to_thread(stack.start_server, "kafka")
    print(f"Kafka restarted in {time.monotonic() - started:.1f} s")


@pytest.mark.integration  # starts its own stack
async def test_a_broker_restart_mid_journey_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with Stack(tmp_path / "var", Ports.free(), kafka_storage="s3", log=lambda _: None) as stack:
        stack.start()
        journey = await patient(Journey.on(stack, lambda _: None))
        mongo: AsyncMongoClient[Doc] = AsyncMongoClient(stack.env["MONGODB_URI"], tz_aware=True)
        try:
            await the_journey(stack, journey, mongo)
        finally:
            await journey.http.aclose()
            await mongo.close()


async def the_journey(stack: Stack, journey: Journey, mongo: AsyncMongoClient[Doc]) -> None:
    citizen = await citizen_with_a_draft(journey, stack.var_dir)
    operator = await operator_token(journey)
    application = f"/{citizen.draft_id}"

    await journey.call("POST", "applications", f"{application}/submit", token=citizen.token)
    # The submission's event on its way: published, being consumed, or still in the outbox.
    await restart_kafka(stack)

    await journey.call("POST", "applications", f"{application}/take", token=operator)
    for document_id in citizen.documents:
        await journey.call("GET", "documents", f"/{document_id}", token=operator, headers=REASON)
        await journey.call("POST", "documents", f"/{document_id}/verify", token=operator)
    # The take's and the verifications' events on their way.
    await restart_kafka(stack)

    async def approved() -> dict[str, Any] | None:
        # Until applications has learnt of both verifications from their events: 409.
        answer = await journey.http.post(
            journey.url("applications", f"{application}/approve"),
            headers={"Authorization": f"Bearer {operator}"},
        )
        return dict(answer.json()) if answer.status_code == 200 else None

    await eventually(approved, within=60, interval=0.2, what="the approval")
    books = mongo["emk_records"]["books"]

    async def book_made() -> bool:
        return await books.count_documents({"holder_id": citizen.user_id}) > 0

    # Records has issued the book: its BookIssued is on its way to applications and
    # notifications when the broker goes.
    await eventually(book_made, within=60, interval=0.01, what="the book issued in records")
    await restart_kafka(stack)

    async def issued() -> dict[str, Any] | None:
        found = await journey.call("GET", "applications", application, token=citizen.token)
        return dict(found) if found["status"] == "issued" else None

    final = await eventually(issued, within=60, interval=0.2, what="the book issued")
    assert final is not None
    # Each status change once (a draft's edits are history entries too).
    changes = [h["status"] for h in final["history"] if h["status"] != "draft"]
    assert changes == ["submitted", "in_review", "approved", "issued"]
    await told_exactly_once(stack, mongo, citizen.phone, citizen.user_id, final)

    [book] = await books.find({"holder_id": citizen.user_id}).to_list()
    positions = [p["application_id"] for p in book["positions"]]
    assert positions == [citizen.draft_id]
    verified = await mongo["emk_documents"]["documents"].count_documents(
        {"_id": {"$in": citizen.documents}, "status": "verified"}
    )
    assert verified == len(citizen.documents)
    dead = await dead_letters(stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    print(f"dead letters: {dead}")
    assert set(dead.values()) == {0}, dead
