"""What the reliability tests share: a citizen with a draft, an operator, SMS counted per
status, and "the platform has settled": nothing left in an outbox, every consumer group caught
up, nothing left to send — the condition after which no further SMS can come, so a count taken
then is final."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from emk_common.catalog import dlq_topic
from emk_common.outbox import PENDING_FIELD
from emk_devstack.demo import Delivered, Journey, scan_pdf, valid_snils
from emk_devstack.stack import Stack
from emk_devstack.topology import BROADCAST, TABLE, consumer_group
from emk_testing import eventually

Doc = dict[str, Any]
OPERATOR_PASSWORD = "Операторский-пароль-2026"
# Staff state why they look at citizens' data (API.md): «Проверка», percent-encoded.
REASON = {"X-Access-Reason": "%D0%9F%D1%80%D0%BE%D0%B2%D0%B5%D1%80%D0%BA%D0%B0"}


@dataclass
class Citizen:
    phone: str
    user_id: str
    token: str
    draft_id: str
    documents: list[str]


class RetryAfter(httpx.AsyncBaseTransport):
    """Does what a 503 with ``Retry-After`` asks — a few times, waiting at most 5 s each — as a
    client of the platform should: on a machine this busy a dependency's answer may miss the
    service's short deadline now and then. Anything else, and the last answer, go through."""

    def __init__(self, tries: int = 4) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._tries = tries

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(self._tries):
            response = await self._inner.handle_async_request(request)
            wait = response.headers.get("Retry-After")
            if response.status_code != 503 or wait is None or not wait.isdigit():
                return response
            await response.aclose()
            await asyncio.sleep(min(int(wait), 5))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def patient(journey: Journey) -> Journey:
    """``journey`` with a client that honours ``Retry-After`` (``RetryAfter``)."""
    await journey.http.aclose()
    journey.http = httpx.AsyncClient(timeout=60, transport=RetryAfter())
    return journey


async def citizen_with_a_draft(journey: Journey, var_dir: Path) -> Citizen:
    """Registered, both contacts confirmed, signed in, personal data saved, two scans uploaded
    and attached to a draft: one request away from submitting."""
    delivered = Delivered(var_dir)
    person = {
        "last_name": "Надёжная", "first_name": "Вера", "birth_date": "1990-05-17", "sex": "F",
        "phone": f"+79{uuid.uuid4().int % 10**9:09d}",
        "email": f"vera.{uuid.uuid4().hex[:8]}@example.ru",
        "password": "Ничего-дважды-2026", "snils": valid_snils(),
    }  # fmt: skip
    user = await journey.call("POST", "identity", "/register", json=person, expect=201)
    for channel, to in (("sms", person["phone"]), ("email", person["email"])):
        code = await delivered.code(to, 0)
        verification = {"user_id": user["user_id"], "channel": channel, "code": code}
        await journey.call("POST", "identity", "/contacts/verify", json=verification)
    token = await journey.login(person["email"], person["password"], person["phone"])
    await journey.call("PUT", "identity", "/me/personal-data", token=token, json={
        "passport": {"series": "4509", "number": f"{uuid.uuid4().int % 10**6:06d}",
                     "issued_at": "2012-06-01", "issued_by": "ОВД", "division_code": "770-001"},
        "birth_place": "г. Москва",
        "registration_address": {"region_code": "77", "locality": "г. Москва",
                                 "street": "ул. Тверская", "house": "7"},
    })  # fmt: skip
    documents = []
    for kind in ("passport", "oms_policy"):
        document = await journey.call(
            "POST", "documents", "", token=token, expect=201,
            files={"file": (f"{kind}.pdf", scan_pdf(f"Scan {kind}"), "application/pdf")},
            data={"kind": kind},
        )  # fmt: skip
        documents.append(document["id"])
    draft = await journey.call("POST", "applications", "", token=token, expect=201, json={
        "employer": {"inn": "7710543822", "ogrn": "1197746318527", "org_type": "head_office",
                     "ownership": "private", "position": "Повар"},
        "oms_policy": "7700000000000008", "consent_personal_data": True,
    })  # fmt: skip
    for kind, document_id in zip(("passport", "oms_policy"), documents, strict=True):
        await journey.call("POST", "applications", f"/{draft['id']}/documents", token=token,
                           json={"document_id": document_id, "kind": kind})  # fmt: skip
    return Citizen(str(person["phone"]), user["user_id"], token, draft["id"], documents)


async def operator_token(journey: Journey) -> str:
    admin = await journey.login(journey.admin_email, journey.admin_password, journey.admin_email)
    email = f"operator.{uuid.uuid4().hex[:8]}@example.ru"
    await journey.call("POST", "identity", "/staff", token=admin, expect=201, json={
        "role": "operator", "last_name": "Смирнов", "first_name": "Олег", "email": email,
        "phone": f"+79{uuid.uuid4().int % 10**9:09d}", "password": OPERATOR_PASSWORD,
    })  # fmt: skip
    return await journey.login(email, OPERATOR_PASSWORD, email)


# --- the SMS of a journey ------------------------------------------------------------------


def status_sms(var_dir: Path, phone: str, number: str) -> Counter[str]:
    """How many SMS of each status label the phone received about application ``number``
    (a status SMS reads «ЭМК: заявление № … — «<label>».»)."""
    told: Counter[str] = Counter()
    for text in Delivered(var_dir).sms(phone):
        if number not in text:
            continue
        labels = [part.split("»", 1)[0] for part in text.split("«")[1:]]
        told[labels[0] if labels else text] += 1
    return told


def expected_sms(application: Mapping[str, Any]) -> Counter[str]:
    """One SMS per entry of the application's history, the draft aside."""
    return Counter(h["status_label"] for h in application["history"] if h["status"] != "draft")


async def told_exactly_once(
    stack: Stack, mongo: AsyncMongoClient[Doc], phone: str, user_id: str,
    application: Mapping[str, Any], *, within: float = 90.0, observe: float = 3.0,
) -> None:  # fmt: skip
    """Every status of ``application``'s history reached the phone, then nothing more: the
    counts are watched until the platform has settled (``settled``) and for at least
    ``observe`` seconds, and fail at the first SMS too many."""
    number, expected = application["number"], expected_sms(application)

    async def all_told() -> bool:
        told = status_sms(stack.var_dir, phone, number)
        assert told - expected == Counter(), f"an SMS too many: {told} against {expected}"
        return told == expected

    await eventually(all_told, within=within, interval=0.1, what=f"the SMS of {dict(expected)}")
    since = time.monotonic()

    async def quiet() -> bool:
        told = status_sms(stack.var_dir, phone, number)
        assert told == expected, f"an SMS too many: {told} against {expected}"
        if time.monotonic() - since < observe:
            return False
        return not await unsettled(stack, mongo, user_id)

    await eventually(quiet, within=within, interval=0.1, what="the platform settled")


# --- the platform has settled --------------------------------------------------------------


async def unsettled(stack: Stack, mongo: AsyncMongoClient[Doc], user_id: str) -> list[str]:
    """What may still make an SMS for ``user_id``: events in any service's outbox, consumer
    groups behind the end of a topic they read, the person's deliveries not yet settled. Empty
    once nothing can."""
    found: list[str] = []
    for service in TABLE:
        database = mongo[f"emk_{service}"]
        for name in await database.list_collection_names():
            if await database[name].count_documents({PENDING_FIELD: {"$exists": True}}):
                found.append(f"events waiting in the outbox of {service}.{name}")
    pending = await mongo["emk_notifications"]["deliveries"].count_documents(
        {"user_id": user_id, "state": "pending"}
    )
    if pending:
        found.append(f"{pending} deliveries of the person not settled")
    found += await consumers_behind(stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    return found


async def consumers_behind(bootstrap: str) -> list[str]:
    """Each service's consumer group that has not committed up to the end of a topic it reads
    (in its group: the broadcast topics are read without one)."""
    wanted = {
        service: [t for t in flows.consumes if t not in BROADCAST]
        for service, flows in TABLE.items()
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await reader.start()
    try:
        await reader.topics()  # the cluster's metadata, every topic's partitions
        behind = []
        for service, topics in wanted.items():
            if not topics:
                continue
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(reader.partitions_for_topic(topic) or ())
            ]
            ends = await reader.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(
                consumer_group(service), partitions=partitions
            )
            for partition, end in ends.items():
                done = committed.get(partition)
                at = done.offset if done is not None and done.offset >= 0 else 0
                if at < end:
                    behind.append(f"{service} at {at} of {end} on {partition}")
        return behind
    finally:
        await reader.stop()
        await admin.close()


async def dead_letters(bootstrap: str) -> dict[str, int]:
    """How many records each consuming service's dead-letter topic holds (the topic's name
    from ``emk_common.catalog``, as the consumers write it)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    try:
        counts: dict[str, int] = {}
        await reader.topics()  # the cluster's metadata, every topic's partitions
        for service, flows in TABLE.items():
            if not flows.consumes:
                continue
            topic = dlq_topic(service)
            found = reader.partitions_for_topic(topic)
            assert found, f"no dead-letter topic {topic}: is it the one the consumers use?"
            partitions = [TopicPartition(topic, p) for p in sorted(found)]
            ends = await reader.end_offsets(partitions)
            starts = await reader.beginning_offsets(partitions)
            counts[topic] = sum(ends[p] - starts[p] for p in partitions)
        return counts
    finally:
        await reader.stop()


# --- processes -----------------------------------------------------------------------------


def pid_of(stack: Stack, name: str) -> int:
    [pid] = [child.pid for child in stack.children if child.name == name]
    return pid


@contextlib.contextmanager
def frozen(stack: Stack, name: str) -> Iterator[None]:
    """``name``'s processes stopped (SIGSTOP) and resumed on leaving: alive, holding their
    sockets, answering nothing — a call to it hangs until it is thawed."""
    group = pid_of(stack, name)  # every child leads its own process group
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGCONT)


async def back(stack: Stack, name: str, killed: int, within: float = 60.0) -> None:
    """``name`` restarted by the supervision (another pid) and ready."""
    async with httpx.AsyncClient(timeout=2.0) as http:

        async def serving() -> bool:
            pids = [child.pid for child in stack.children if child.name == name]
            if not stack.is_running(name) or pids in ([], [killed]):
                return False
            try:
                answer = await http.get(f"{stack.service_url(name)}/readyz")
            except httpx.HTTPError:
                return False
            return answer.status_code == 200

        await eventually(serving, within=within, interval=0.1, what=f"{name} back")


async def consuming(stack: Stack, name: str, within: float = 90.0) -> None:
    """``name`` has joined its consumer groups (its readiness reports Kafka ``connected``, which
    the broker's start reports once every subscriber has its partitions)."""
    async with httpx.AsyncClient(timeout=2.0) as http:

        async def connected() -> bool:
            try:
                answer = await http.get(f"{stack.service_url(name)}/readyz")
            except httpx.HTTPError:
                return False
            return answer.status_code == 200 and answer.json()["info"].get("kafka") == "connected"

        await eventually(connected, within=within, interval=0.2, what=f"{name} consuming")
