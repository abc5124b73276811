""" "Who saw my data" end to end through the real servers: a staff member's read in one service
(a probe built as every service is) is journaled, sealed, published on ``emk.access`` — ids and
codes, never the reason — kept once by identity however often it arrives, and shown to the
owner by ``GET /api/v1/identity/me/access-log`` with the reason asked of the service."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from emk_common import catalog
from emk_common.audit import AccessLog
from emk_common.service import Runtime, create_app, create_runtime
from emk_common.service_auth import ServiceAuth, ServiceTokenIssuer
from emk_testing import Caller, eventually, trusting_verifier
from identity.adapters.reasons import HttpAccessReasons
from identity.app import build
from identity.settings import IdentitySettings
from identity.store.accesses import COLLECTION as DATA_ACCESSES

from .probe import ProbeSettings

FAST: dict[str, Any] = {"outbox_lease_seconds": 2.0, "consumer_backoff_seconds": 0.05}
REASON = "Проверка по обращению № 4711: звонок гражданки о смене места работы"
P = "/api/v1/identity"


def probe_service(database: str) -> tuple[FastAPI, Runtime]:
    runtime = create_runtime(ProbeSettings(mongodb_database=database, **FAST))
    return create_app(runtime, title="probe", description="test"), runtime


def identity_app(database: str, probe: FastAPI) -> FastAPI:
    settings = IdentitySettings(
        mongodb_database=database,
        kafka_consumer_group=f"identity-access-{uuid.uuid4().hex[:8]}",
        argon2_memory_kib=8192,
        argon2_time_cost=1,
        **FAST,
    )
    # The probe's reasons, reached in this process, with identity's own service token.
    reasons = HttpAccessReasons(
        {
            "probe": httpx.AsyncClient(
                transport=httpx.ASGITransport(app=probe),
                base_url="http://probe",
                auth=ServiceAuth(ServiceTokenIssuer.from_settings(settings), "probe"),
            )
        }
    )
    app = build(settings, reasons=reasons)
    app.state.access_verifier = trusting_verifier()
    return app


@pytest.fixture
async def mongo_dbs(mongo: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:10]
    names = (f"probe_access_{suffix}", f"identity_access_{suffix}")
    yield names
    for name in names:
        await mongo.drop_database(name)


async def _records_of(consumer: AIOKafkaConsumer, owner: str) -> list[bytes]:
    """The raw records on emk.access keyed by ``owner`` read so far (a growing list)."""
    found: list[bytes] = []
    batches = await consumer.getmany(timeout_ms=200)
    for records in batches.values():
        found.extend(r.value for r in records if r.key == owner.encode())
    return found


async def test_a_staff_read_reaches_the_owners_access_log_once_with_its_reason(
    mongo: AsyncMongoClient[dict[str, Any]], mongo_dbs: tuple[str, str], kafka_bootstrap: str
) -> None:
    probe_db, identity_db = mongo_dbs
    probe, runtime = probe_service(probe_db)
    identity = identity_app(identity_db, probe)
    owner, operator = Caller.new(), Caller.new("operator", "7701000001")
    raw = AIOKafkaConsumer(
        catalog.ACCESS,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,
    )
    async with probe.router.lifespan_context(probe), identity.router.lifespan_context(identity):
        await raw.start()
        try:
            # The operator reads the owner's thing, with a reason, and reads their own.
            log = AccessLog(runtime.collection("access_log"), "thing", runtime.clock)
            await log.record("thing-1", owner.user_id, actor_id=operator.user_id,
                             actor_role="operator", action="read", reason=REASON,
                             organization_id="7701000001")  # fmt: skip
            await log.record("thing-2", operator.user_id, actor_id=operator.user_id,
                             actor_role="operator", action="read", reason="своё")  # fmt: skip

            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=identity), base_url="http://identity"
            ) as http:

                async def shown() -> list[dict[str, Any]]:
                    answer = await http.get(f"{P}/me/access-log", headers=owner.headers)
                    assert answer.status_code == 200, answer.text
                    items: list[dict[str, Any]] = answer.json()["items"]
                    return items

                [item] = await eventually(shown, within=60, what="the access in identity")
                assert item["service"] == "probe"
                assert item["actor"]["role"] == "operator"
                assert item["actor"]["organization_id"] == "7701000001"
                assert item["action"] == "read"
                assert item["reason"] == REASON
                assert item["reason_unavailable"] is False

                # The Kafka record: ids and codes; the reason is not in it.
                seen: list[bytes] = []

                async def published() -> list[bytes]:
                    seen.extend(await _records_of(raw, owner.user_id))
                    return list(seen)

                [record] = await eventually(published, within=30, what="the raw record")
                assert REASON.encode() not in record
                assert "обращению".encode() not in record
                envelope = json.loads(record)
                assert envelope["data"]["has_reason"] is True
                assert envelope["id"] == item["id"]

                # The same record delivered again, and the same entry in a new envelope (a
                # feed publishing again after a crash) change nothing.
                producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
                await producer.start()
                try:
                    again = json.loads(record)
                    again_new_envelope = {**again, "id": str(uuid.uuid4())}
                    for body in (record, json.dumps(again_new_envelope).encode()):
                        await producer.send_and_wait(
                            catalog.ACCESS, body, key=owner.user_id.encode(),
                            headers=[("content-type", b"application/cloudevents+json")],
                        )  # fmt: skip
                finally:
                    await producer.stop()
                inbox = mongo[identity_db]["inbox"]

                async def handled() -> bool:
                    # One key, one partition: once the last is handled, the copy before it is.
                    return await inbox.find_one({"event_id": again_new_envelope["id"]}) is not None

                await eventually(handled, within=30, what="the copies consumed")
                answer = await http.get(f"{P}/me/access-log", headers=owner.headers)
            assert [i["id"] for i in answer.json()["items"]] == [item["id"]]
            assert (
                await mongo[identity_db][DATA_ACCESSES].count_documents({"owner_id": owner.user_id})
                == 1
            )
            # The operator's read of their own is nobody else's access: not published.
            assert (
                await mongo[identity_db][DATA_ACCESSES].count_documents(
                    {"owner_id": operator.user_id}
                )
                == 0
            )
        finally:
            await raw.stop()
