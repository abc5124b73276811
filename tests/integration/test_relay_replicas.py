"""Several relay replicas on one outbox: each event published once, in order per aggregate."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaConsumer

from emk_common.service import Runtime
from emk_testing import eventually

from .probe import new_probe, producer_app, running

COUNTERS = 12
INCREMENTS = 15


async def test_two_relay_replicas_publish_every_event_once_and_in_order(
    kafka_bootstrap: str,
) -> None:
    probe = new_probe()
    settings = {"outbox_lease_seconds": 2.0, "outbox_shards": 8}
    app_a, runtime_a = producer_app(probe, **settings)
    app_b, runtime_b = producer_app(probe, **settings)
    async with running(app_a) as http_a, running(app_b) as http_b:
        await eventually(
            lambda: _balanced(runtime_a, runtime_b), within=20, what="the shards to be split"
        )

        async def bump(counter: int) -> None:
            for step in range(INCREMENTS):  # one aggregate's writes are sequential
                http = (http_a, http_b)[step % 2]
                response = await http.post(f"/counters/c{counter}/increment")
                assert response.status_code == 201

        await asyncio.gather(*(bump(c) for c in range(COUNTERS)))
        received = await _read(kafka_bootstrap, probe.topic, COUNTERS * INCREMENTS)

        relay_a, relay_b = runtime_a.relay, runtime_b.relay
        assert relay_a is not None
        assert relay_b is not None

        # A relay counts a batch once it has marked it sent, after the broker acknowledged
        # it: the records may be read before the count moves.
        async def counted() -> bool:
            return relay_a.published + relay_b.published >= COUNTERS * INCREMENTS

        await eventually(counted, within=10, what="the relays to count what they published")
        assert relay_a.published > 0
        assert relay_b.published > 0
        assert relay_a.published + relay_b.published == COUNTERS * INCREMENTS

    ids = [r["id"] for r in received]
    assert len(ids) == len(set(ids)), "an event was published twice"
    by_counter: dict[str, list[int]] = defaultdict(list)
    for record in received:
        by_counter[record["data"]["counter_id"]].append(record["data"]["value"])
    assert by_counter == {f"c{c}": list(range(1, INCREMENTS + 1)) for c in range(COUNTERS)}


async def _balanced(a: Runtime, b: Runtime) -> bool:
    if a.relay is None or b.relay is None:
        return False
    owned_a, owned_b = a.relay.owned_shards(), b.relay.owned_shards()
    return len(owned_a) == 4 and len(owned_b) == 4 and not set(owned_a) & set(owned_b)


async def _read(bootstrap: str, topic: str, expected: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    records.extend(json.loads(m.value) for m in messages)
        # Anything beyond the expected count would be a duplicate: give it a chance to show.
        extra = await consumer.getmany(timeout_ms=1000)
        records.extend(json.loads(m.value) for ms in extra.values() for m in ms)
    finally:
        await consumer.stop()
    # Kafka orders per partition; per-aggregate order is what we promise, so keep
    # arrival order within each partition by reading it as delivered.
    return records
