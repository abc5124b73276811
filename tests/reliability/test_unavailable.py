"""503, not hangs: with MongoDB frozen, S3 stopped or identity's keys out of reach, every
service answers at once — a 503 problem with ``Retry-After``, never a 401 — and serves again by
itself once the dependency is back, without anyone restarting a service.

One stack for the module (its own, on free ports). A frozen server is a ``SIGSTOP``ped process:
the kernel still accepts connections for it, nothing answers — the hard case for timeouts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from minio import Minio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from emk_devstack.demo import Delivered, Journey, scan_pdf, valid_snils
from emk_devstack.stack import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, Ports, Stack
from emk_testing import eventually

pytestmark = pytest.mark.integration  # starts its own stack

BUDGET = 2.0  # seconds within which an unreachable dependency must be answered for
BACK_WITHIN = 30.0
PROBLEM = "application/problem+json"
BUCKET = "emk-documents"

# An authenticated GET on each service that reads its MongoDB, and its answer when all is
# well (the citizen has no medical book yet: records answers that from its database, a 404).
READS = {
    "identity": ("/me", 200),
    "applications": ("", 200),
    "documents": ("", 200),
    "records": ("/book", 404),
    "notifications": ("", 200),
}


@dataclass
class Citizen:
    user_id: str
    token: str


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Kafka in memory: stopping S3 below must not take the broker's log with it.
    var_dir = tmp_path_factory.mktemp("unavailable") / "var"
    with Stack(var_dir, Ports.free(), kafka_storage="memory", log=lambda _: None) as stack:
        stack.start_infra()
        stack.start_services()
        yield stack


@pytest.fixture(scope="module")
async def journey(local_stack: Stack) -> AsyncIterator[Journey]:
    journey = Journey.on(local_stack, lambda _: None)
    journey.http = httpx.AsyncClient(timeout=30)
    try:
        yield journey
    finally:
        await journey.http.aclose()


@pytest.fixture(scope="module")
async def citizen(journey: Journey, local_stack: Stack) -> Citizen:
    """A citizen signed in through identity only: no other service has fetched identity's
    keys yet (their caches are cold)."""
    delivered = Delivered(local_stack.var_dir)
    person = {
        "last_name": "Недоступная", "first_name": "Вера", "birth_date": "1991-03-02", "sex": "F",
        "phone": f"+79{uuid.uuid4().int % 10**9:09d}",
        "email": f"vera.{uuid.uuid4().hex[:8]}@example.ru",
        "password": "Сервис-недоступен-2026", "snils": valid_snils(),
    }  # fmt: skip
    user = await journey.call("POST", "identity", "/register", json=person, expect=201)
    for channel, to in (("sms", person["phone"]), ("email", person["email"])):
        code = await delivered.code(to, 0)
        verification = {"user_id": user["user_id"], "channel": channel, "code": code}
        await journey.call("POST", "identity", "/contacts/verify", json=verification)
    token = await journey.login(person["email"], person["password"], person["phone"])
    return Citizen(user["user_id"], token)


@contextlib.contextmanager
def frozen(stack: Stack, name: str) -> Iterator[None]:
    """``name``'s process stopped (SIGSTOP) for the block, continued (SIGCONT) after it."""
    [pid] = [child.pid for child in stack.children if child.name == name]
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@dataclass
class Storage:
    """What the documents service keeps: its records in MongoDB, their bytes in S3."""

    documents: AsyncCollection[dict[str, Any]]
    s3: Minio

    def objects(self) -> set[str]:
        return {str(o.object_name) for o in self.s3.list_objects(BUCKET, recursive=True)}

    async def recorded(self) -> set[str]:
        return {str(d["_id"]) for d in await self.documents.find({}, {"_id": 1}).to_list()}


@pytest.fixture(scope="module")
async def storage(local_stack: Stack) -> AsyncIterator[Storage]:
    env = local_stack.env
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(env["MONGODB_URI"])
    s3 = Minio(
        env["S3_ENDPOINT"].removeprefix("http://"),
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        region=S3_REGION,
        secure=False,
    )
    try:
        yield Storage(mongo["emk_documents"]["documents"], s3)
    finally:
        await mongo.close()


async def upload(journey: Journey, citizen: Citizen) -> httpx.Response:
    return await journey.http.post(
        journey.url("documents", ""),
        files={"file": ("passport.pdf", scan_pdf("Passport"), "application/pdf")},
        data={"kind": "passport"},
        headers={"Authorization": f"Bearer {citizen.token}"},
    )


async def timed_get(journey: Journey, service: str, path: str, token: str) -> tuple[Any, float]:
    started = time.monotonic()
    answer = await journey.http.get(
        journey.url(service, path), headers={"Authorization": f"Bearer {token}"}
    )
    return answer, time.monotonic() - started


def assert_unavailable(
    answer: httpx.Response, elapsed: float, what: str, budget: float = BUDGET
) -> None:
    assert answer.status_code == 503, f"{what}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers["content-type"] == PROBLEM, what
    assert int(answer.headers["retry-after"]) >= 1, what
    assert answer.json()["detail"], what
    assert elapsed < budget, f"{what}: answered after {elapsed:.2f} s"


async def all_serving(journey: Journey, token: str) -> bool:
    for service, (path, healthy) in READS.items():
        answer = await journey.http.get(
            journey.url(service, path), headers={"Authorization": f"Bearer {token}"}
        )
        if answer.status_code != healthy:
            return False
    return True


# The order matters: the first test restarts services while identity is frozen.


async def test_identity_frozen_with_cold_key_caches_is_a_503_not_a_401(
    journey: Journey, local_stack: Stack, citizen: Citizen
) -> None:
    with frozen(local_stack, "identity"):
        for service in ("documents", "notifications", "applications"):
            # A replica fetches the keys as it starts (JwksCache.warm): one started while
            # identity is away has none, however long it waits.
            local_stack.stop_server(service)
            local_stack.start_server(service)
            path, _ = READS[service]
            answer, elapsed = await timed_get(journey, service, path, citizen.token)
            assert_unavailable(answer, elapsed, f"{service} without identity's keys")
            assert "www-authenticate" not in answer.headers
    # Identity runs again: the keys are fetched on the next try, nobody restarts anything.
    await eventually(
        lambda: all_serving(journey, citizen.token), within=BACK_WITHIN, what="all serving"
    )


async def test_mongodb_frozen_is_a_503_on_every_service_then_they_recover(
    journey: Journey, local_stack: Stack, citizen: Citizen
) -> None:
    assert await all_serving(journey, citizen.token)  # keys cached, connections pooled
    ready = f"{local_stack.service_url('documents')}/readyz"
    with frozen(local_stack, "mongodb"):
        for service, (path, _) in READS.items():
            answer, elapsed = await timed_get(journey, service, path, citizen.token)
            assert_unavailable(answer, elapsed, f"{service} with MongoDB frozen")
        readiness = await journey.http.get(ready)
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["mongodb"] == "fail"
    # SIGCONT: the same processes, the same clients, serving again.
    await eventually(
        lambda: all_serving(journey, citizen.token), within=BACK_WITHIN, what="all serving"
    )
    assert (await journey.http.get(ready)).status_code == 200


async def test_s3_stopped_during_an_upload_is_a_503_and_leaves_nothing(
    journey: Journey, local_stack: Stack, citizen: Citizen, storage: Storage
) -> None:
    stored_before, recorded_before = storage.objects(), await storage.recorded()
    try:
        local_stack.stop_server("s3")
        started = time.monotonic()
        answer = await upload(journey, citizen)
        assert_unavailable(answer, time.monotonic() - started, "an upload with S3 stopped")
    finally:
        local_stack.start_server("s3")

    # Nothing behind: no record of the upload, no object in the bucket.
    assert await storage.recorded() == recorded_before
    assert storage.objects() == stored_before

    # The same upload, S3 back (the service was not restarted): stored and recorded.
    answer = await upload(journey, citizen)
    assert answer.status_code == 201, answer.text[:300]
    document_id = answer.json()["id"]
    assert storage.objects() == stored_before | {document_id}
    assert await storage.recorded() == recorded_before | {document_id}


async def test_mongodb_frozen_during_an_upload_leaves_no_orphan(
    journey: Journey, local_stack: Stack, citizen: Citizen, storage: Storage
) -> None:
    with frozen(local_stack, "mongodb"):
        started = time.monotonic()
        answer = await upload(journey, citizen)  # scanned and stored in S3; not recorded
        elapsed = time.monotonic() - started
    # Scanning and storing in S3 come first: a second more for them.
    assert_unavailable(answer, elapsed, "an upload with MongoDB frozen", budget=BUDGET + 1)

    async def consistent() -> bool:
        # Every object is a recorded document's bytes and every record has its object: the
        # object was removed, or the record landed after all (MongoDB ran what it was sent).
        return storage.objects() == await storage.recorded()

    await eventually(consistent, within=BACK_WITHIN, what="no orphaned object")
    assert (await upload(journey, citizen)).status_code == 201
