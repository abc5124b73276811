"""Two small services built exactly as the real five are (``create_runtime`` + ``create_app``),
for proving the delivery machinery end to end against the real servers.

The producer keeps a "counter" aggregate: ``POST /counters/{id}/increment`` changes it and
stages a ``CounterIncremented`` event in the same single-document write. The consumer
records each event's effect in its own database through the inbox.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, FastAPI
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.events import Envelope, EventData
from emk_common.service import Runtime, RuntimeDep, create_app, create_runtime
from emk_common.settings import ServiceSettings


class ProbeSettings(ServiceSettings):
    service_name: ClassVar[str] = "probe"


def event_class(topic: str) -> type[EventData]:
    """A payload class on its own topic, so tests never see each other's events."""

    class CounterIncremented(EventData):
        counter_id: str
        value: int
        poison: bool = False

    CounterIncremented.topic = topic
    CounterIncremented.name = "CounterIncremented"
    return CounterIncremented


@dataclass
class Probe:
    topic: str
    event: type[EventData]
    producer_db: str
    consumer_db: str


def new_probe() -> Probe:
    suffix = uuid.uuid4().hex[:10]
    topic = f"emk.test.{suffix}"
    return Probe(topic, event_class(topic), f"probe_producer_{suffix}", f"probe_consumer_{suffix}")


def producer_app(probe: Probe, **overrides: Any) -> tuple[FastAPI, Runtime]:
    settings = ProbeSettings(mongodb_database=probe.producer_db, **overrides)
    runtime = create_runtime(settings, produces=[probe.topic], outbox_collections=["counters"])
    router = APIRouter()

    @router.post("/counters/{counter_id}/increment", status_code=201)
    async def increment(counter_id: str, rt: RuntimeDep, poison: bool = False) -> dict[str, Any]:
        counters = rt.collection("counters")
        doc = await counters.find_one({"_id": counter_id}, {"value": 1})
        value = (doc or {}).get("value", 0) + 1
        event = Envelope.wrap(
            probe.event(counter_id=counter_id, value=value, poison=poison),
            source="probe",
            subject=counter_id,
        )
        update = rt.outbox.update(counter_id, {"$set": {"value": value}}, [event])
        await counters.find_one_and_update(
            {"_id": counter_id}, update, upsert=True, return_document=ReturnDocument.AFTER
        )
        return {"id": counter_id, "value": value, "event_id": event.id}

    return create_app(
        runtime, title="probe producer", description="test", routers=[router]
    ), runtime


def consumer_app(
    probe: Probe,
    *,
    fail_on_poison: bool = True,
    before: Callable[[Any], Awaitable[None]] | None = None,
    **overrides: Any,
) -> tuple[FastAPI, Runtime]:
    """``before`` runs first in the handler (a test makes it raise)."""
    settings = ProbeSettings(
        mongodb_database=probe.consumer_db,
        kafka_consumer_group=f"{probe.consumer_db}-group",
        **overrides,
    )
    runtime = create_runtime(settings)
    effects = runtime.collection("effects")

    @runtime.consumer.on(probe.event, name="probe.record_effect")
    async def record_effect(data: Any, envelope: Envelope, session: AsyncClientSession) -> None:
        if before is not None:
            await before(data)
        if fail_on_poison and data.poison:
            raise ValueError("this event is poison by design")
        await effects.insert_one(
            {"event_id": envelope.id, "counter_id": data.counter_id, "value": data.value},
            session=session,
        )

    return create_app(runtime, title="probe consumer", description="test"), runtime


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan in this process and hand out an HTTP client for it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            yield client
