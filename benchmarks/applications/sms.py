"""Submit → SMS with 20 applicants at once, on the full platform (the package's docstring
says how)."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from benchmarks.applications.lists import API
from benchmarks.applications.plans import Explained, plan_summary
from benchmarks.applications.seeding import DRAFT
from benchmarks.documents import pdf
from benchmarks.foundation import fetch_max_wait_ms, percentiles
from emk_common import catalog
from emk_common.outbox import Outbox
from emk_devstack.ports import SERVICES
from emk_devstack.stack import Stack
from emk_testing import TopicTap
from notifications.settings import NotificationsSettings
from notifications.store import Deliveries
from tests.e2e.journey import Inbox, bearer
from tests.e2e.test_identity_journey import register_ready_citizen

Doc = dict[str, Any]

CITIZENS = 20
SMS_ROUNDS = 3
SMS_WAIT_SECONDS = 90.0


@dataclass
class Applicant:
    phone: str
    tokens: Doc
    documents: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens)


class SmsTail:
    """New lines of the SMS spool, read from where it ended when the tail was made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.lines: list[Doc] = []

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as spool:
            spool.seek(self.offset)
            chunk = spool.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        self.lines += [json.loads(line) for line in complete.splitlines() if line.strip()]

    async def arrivals(self, wanted: dict[str, str], within: float) -> dict[str, float]:
        """number → when its SMS was written (epoch seconds), for every number wanted."""
        found: dict[str, float] = {}
        deadline = time.monotonic() + within
        while len(found) < len(wanted) and time.monotonic() < deadline:
            self.read()
            for line in self.lines:
                for number, phone in wanted.items():
                    if number not in found and line["to"] == phone and number in line["text"]:
                        found[number] = datetime.fromisoformat(line["at"]).timestamp()
            await asyncio.sleep(0.005)
        if len(found) < len(wanted):
            missing = sorted(set(wanted) - set(found))
            raise RuntimeError(
                f"no SMS for {len(missing)} of {len(wanted)} submitted applications within "
                f"{within:.0f} s (e.g. {missing[:3]}): does the notifications service send an "
                "SMS for ApplicationStatusChanged?"
            )
        return found


async def prepare_applicant(stack: Stack, inbox: Inbox, one_by_one: asyncio.Lock) -> Applicant:
    # One registration at a time: identity's rate-limit counter answers 500 when two first
    # hits of a window race on its upsert (SecantusDB returns no document to the loser).
    async with (
        one_by_one,
        httpx.AsyncClient(base_url=stack.service_url("identity"), timeout=60) as identity,
    ):
        person, tokens, _ = await register_ready_citizen(identity, inbox)
    applicant = Applicant(person["phone"], tokens)
    async with httpx.AsyncClient(base_url=stack.service_url("documents"), timeout=60) as docs:
        for kind in ("passport", "oms_policy"):
            uploaded = await docs.post(
                "/api/v1/documents", headers=applicant.headers,
                files={"file": (f"{kind}.pdf", pdf(64 * 1024), "application/pdf")},
                data={"kind": kind},
            )  # fmt: skip
            assert uploaded.status_code == 201, uploaded.text
            applicant.documents[kind] = uploaded.json()["id"]
    return applicant


async def complete_draft(http: httpx.AsyncClient, applicant: Applicant) -> str:
    draft = await http.post(API, json=DRAFT, headers=applicant.headers)
    assert draft.status_code == 201, draft.text
    application_id = str(draft.json()["id"])
    for kind, document_id in applicant.documents.items():
        attached = await http.post(
            f"{API}/{application_id}/documents", headers=applicant.headers,
            json={"document_id": document_id, "kind": kind},
        )  # fmt: skip
        assert attached.status_code == 200, attached.text
    return application_id


def _on_kafka(tap: TopicTap, application_id: str) -> float:
    """When the application's status change reached Kafka's consumers (epoch seconds)."""
    return tap.first_arrival(application_id, "ApplicationStatusChanged") or float("nan")


async def submit_round(
    http: httpx.AsyncClient, applicants: list[Applicant], tail: SmsTail, tap: TopicTap
) -> list[dict[str, float]]:
    """Every applicant prepares a draft (not timed), then all submit at once; per
    application, seconds from sending the submit to its answer, to Kafka, to the SMS."""
    drafts = await asyncio.gather(*(complete_draft(http, a) for a in applicants))

    async def submit(applicant: Applicant, application_id: str) -> tuple[str, float, float]:
        sent_at, started = time.time(), time.perf_counter()
        answer = await http.post(f"{API}/{application_id}/submit", headers=applicant.headers)
        answered = time.perf_counter() - started
        assert answer.status_code == 200, answer.text
        return str(answer.json()["number"]), sent_at, answered

    sent = await asyncio.gather(*(submit(a, d) for a, d in zip(applicants, drafts, strict=True)))
    wanted = {number: a.phone for (number, _, _), a in zip(sent, applicants, strict=True)}
    arrived = await tail.arrivals(wanted, SMS_WAIT_SECONDS)
    return [
        {
            "answer": answered,
            "on_kafka": (
                tap.first_arrival(application_id, "ApplicationStatusChanged") or float("nan")
            )
            - sent_at,
            "sms": arrived[number] - sent_at,
        }
        for (number, sent_at, answered), application_id in zip(sent, drafts, strict=True)
    ]


async def write_and_round_trip(stack: Stack, rounds: int, concurrent: int) -> list[float]:
    """The unavoidable part: one MongoDB write, then one Kafka produce → consume."""
    env = stack.env
    topic = f"emk.bench.sms.{uuid.uuid4().hex[:8]}"
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(env["MONGODB_URI"], tz_aware=True)
    writes = mongo[f"bench_sms_{uuid.uuid4().hex[:6]}"]["writes"]
    producer = AIOKafkaProducer(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], acks="all")
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], group_id=None,
        auto_offset_reset="earliest", fetch_max_wait_ms=fetch_max_wait_ms(),
    )  # fmt: skip
    waiting: dict[bytes, asyncio.Future[float]] = {}

    async def receive() -> None:
        async for record in consumer:
            future = waiting.pop(record.key or b"", None)
            if future is not None and not future.done():
                future.set_result(time.perf_counter())

    async def one() -> float:
        key = uuid.uuid4().hex.encode()
        arrived: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiting[key] = arrived
        started = time.perf_counter()
        await writes.insert_one({"_id": key.decode(), "status": "submitted"})
        await producer.send_and_wait(topic, b"{}", key=key)
        return await arrived - started

    await producer.start()
    await producer.send_and_wait(topic, b"warm", key=b"warm")
    await consumer.start()
    receiver = asyncio.create_task(receive())
    try:
        await asyncio.sleep(0.5)
        samples: list[float] = []
        for _ in range(rounds + 1):  # the first round warms up
            futures = [asyncio.ensure_future(one()) for _ in range(concurrent)]
            samples += await asyncio.gather(*futures)
        return samples[concurrent:]
    finally:
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        await mongo.drop_database(writes.database.name)
        await mongo.close()


async def submit_to_sms(stack: Stack) -> Doc:
    missing = [name for name in SERVICES if not stack.is_running(name)]
    stack.start_services(missing)
    inbox = Inbox(stack.var_dir)
    one_by_one = asyncio.Lock()
    applicants = await asyncio.gather(
        *(prepare_applicant(stack, inbox, one_by_one) for _ in range(CITIZENS))
    )
    url = stack.service_url("applications")
    limits = httpx.Limits(max_connections=CITIZENS * 2)
    samples: list[dict[str, float]] = []
    per_round = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http,
        TopicTap(
            stack.env["KAFKA_BOOTSTRAP_SERVERS"],
            catalog.APPLICATIONS,
            start="latest",
            fetch_max_wait_ms=fetch_max_wait_ms(),
        ) as tap,  # when each status change reached Kafka's consumers
    ):
        tail = SmsTail(stack.sms_spool)
        await submit_round(http, applicants[:1], tail, tap)  # warm-up: the path is open
        for _ in range(SMS_ROUNDS):
            measured = await submit_round(http, applicants, tail, tap)
            samples += measured
            per_round.append(percentiles([m["sms"] for m in measured]))
    baseline = await write_and_round_trip(stack, SMS_ROUNDS, CITIZENS)
    alone = await write_and_round_trip(stack, 20, 1)

    def stage(name: str) -> list[float]:
        return [m[name] for m in samples if not math.isnan(m[name])]

    service, floor = percentiles(stage("sms")), percentiles(baseline)
    return {
        "notes": [
            "submit_to_sms: from sending POST /{id}/submit to the `at` of the SMS line with "
            "the application's number (written by notifications as it sends). Path: the "
            "submit's write with its events → outbox relay → Kafka → notifications inbox → "
            "delivery dispatcher (contacts from identity) → SMS spool.",
            "Baseline: one MongoDB insert, then one produce → consume round trip on the same "
            "Tansu, 20 at once (and one at a time); consumers wait "
            f"up to {fetch_max_wait_ms()} ms per fetch, as the services' do.",
        ],
        "citizens": CITIZENS,
        "rounds": SMS_ROUNDS,
        "samples": len(samples),
        "submit_to_sms": service,
        "per_round": per_round,
        "stages": {
            "submit_to_http_answer": percentiles(stage("answer")),
            "submit_to_event_on_kafka": percentiles(stage("on_kafka")),
            "event_on_kafka_to_sms": percentiles(
                [m["sms"] - m["on_kafka"] for m in samples if not math.isnan(m["on_kafka"])]
            ),
        },
        "baseline_write_plus_kafka_round_trip": {
            f"{CITIZENS}_at_once": floor,
            "one_at_a_time": percentiles(alone),
        },
        "ratio_p50_to_baseline": round(service["p50_ms"] / floor["p50_ms"], 2),
        "ratio_p99_to_baseline": round(service["p99_ms"] / floor["p99_ms"], 2),
        "notifications_delivery_claim": await delivery_claim_plan(stack),
    }


async def delivery_claim_plan(stack: Stack) -> Doc:
    """The notifications dispatcher's claim, built by its own store and explained: it runs
    for every delivery sent (and polls), over a collection that keeps every delivery."""
    settings = NotificationsSettings()
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(stack.env["MONGODB_URI"], tz_aware=True)
    try:
        collection = mongo[settings.mongodb_database]["deliveries"]
        explained = Explained(collection)
        await Deliveries(cast(Any, explained), Outbox(1)).claim(
            datetime.now(UTC), timedelta(0), "bench-explain"
        )
        plan = plan_summary(explained.plans[0])
        plan["deliveries_stored"] = await collection.count_documents({})
        return plan
    finally:
        await mongo.close()
