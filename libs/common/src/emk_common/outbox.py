"""The transactional outbox: events ride inside the aggregate's own document.

A repository adds the events to the same single-document write that changes the
aggregate (:meth:`Outbox.insert` / :meth:`Outbox.update`), so the state change and its
events commit together without a multi-document transaction. Pending entries are
marked with the aggregate's shard (``_outbox_shard``, indexed), which is what the relay
queries; the relay publishes them in order, then pulls them out and clears the mark.

Guarantee: every committed event is published at least once, and one aggregate's events
are published in the order they were written. A broker outage only delays them.

Every few seconds the relay also counts what is pending on its shards, and when the oldest
of it was staged (``emk_outbox_pending_events``, ``emk_outbox_oldest_age_seconds``): one
aggregation over the pending index, which finds nothing when the outbox keeps up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from opentelemetry import propagate, trace
from pymongo import ASCENDING, UpdateOne, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from emk_common.events import EVENT_CONTENT_TYPE, Envelope
from emk_common.leases import ShardLeases, shard_of
from emk_common.loops import stop_if_cancelled
from emk_common.metrics import Reading

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

OUTBOX_FIELD = "_outbox"
PENDING_FIELD = "_outbox_shard"

Doc = dict[str, Any]


class Publisher(Protocol):
    """What the relay needs of a broker: publish one record and wait for the ack."""

    @property
    def ready(self) -> bool: ...

    async def publish(self, topic: str, key: str, body: bytes, headers: dict[str, str]) -> None: ...


def _entry(envelope: Envelope) -> Doc:
    return {
        "id": envelope.id,
        "topic": envelope.topic,
        "key": envelope.subject,
        "type": envelope.type,
        "body": envelope.model_dump_json(),
        "trace": envelope.trace_carrier(),
        # When it was staged, in real seconds (not the service's clock, which tests move):
        # what the backlog's age is measured from.
        "at": time.time(),
    }


class Outbox:
    """What repositories use to stage events in the write that changes an aggregate."""

    def __init__(self, shards: int) -> None:
        self.shards = shards

    def insert(self, document: Doc, events: Sequence[Envelope]) -> Doc:
        """The document to insert, with its events pending."""
        if not events:
            return document
        return {
            **document,
            OUTBOX_FIELD: [_entry(e) for e in events],
            PENDING_FIELD: shard_of(str(document["_id"]), self.shards),
        }

    def update(self, aggregate_id: str, update: Doc, events: Sequence[Envelope]) -> Doc:
        """The update operators for ``update_one``/``find_one_and_update``, plus the events."""
        if not events:
            return update
        staged = dict(update)
        staged["$push"] = {
            **update.get("$push", {}),
            OUTBOX_FIELD: {"$each": [_entry(e) for e in events]},
        }
        staged["$set"] = {
            **update.get("$set", {}),
            PENDING_FIELD: shard_of(aggregate_id, self.shards),
        }
        return staged


async def ensure_outbox_index(collection: AsyncCollection[Doc]) -> None:
    await collection.create_index([(PENDING_FIELD, ASCENDING)], name="outbox_pending")


class OutboxWrites(monitoring.CommandListener):
    """Wakes the relay when a write to an outbox collection succeeds, or a transaction (which
    may hold one) commits — so the write itself wakes it, and no store has to remember to.

    A write inside a transaction wakes it early (it finds nothing yet); the commit wakes it
    again. A write that staged no event costs the relay one indexed look.
    """

    _WRITES = frozenset({"insert", "update", "findAndModify", "commitTransaction"})

    def __init__(self, database: str, collections: Iterable[str], wake: Callable[[], None]):
        self._database = database
        self._collections = frozenset(collections)
        self._wake = wake
        self._watched: set[int] = set()  # request ids of writes to watch

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name not in self._WRITES:
            return
        if name == "commitTransaction" or (
            event.database_name == self._database and event.command.get(name) in self._collections
        ):
            self._watched.add(event.request_id)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self._watched:
            self._watched.discard(event.request_id)
            self._wake()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._watched.discard(event.request_id)


class OutboxRelay:
    """Publishes pending events of the shards this replica leases."""

    def __init__(
        self,
        collections: Sequence[AsyncCollection[Doc]],
        leases: ShardLeases,
        publisher: Publisher,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.25,
        max_backoff_seconds: float = 5.0,
        observe_seconds: float = 5.0,
    ) -> None:
        self._collections = list(collections)
        self._leases = leases
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0
        self._observe_every = observe_seconds
        # collection -> (events pending on our shards, when the oldest was staged), as of the
        # last look; what the metrics read at a scrape.
        self._observed: dict[str, tuple[int, float | None]] = {}

    def wake(self) -> None:
        """Publish now (thread-safe: a MongoDB listener may call it from another thread)."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if self._loop is None or current is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    def owned_shards(self) -> list[int]:
        return self._leases.owned()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        maintain_every = self._leases.lease_seconds / 4
        next_maintenance = 0.0
        next_look = 0.0
        backoff = self._poll
        try:
            while True:
                stop_if_cancelled()
                now = time.monotonic()
                if now >= next_maintenance:
                    await self._leases.maintain()
                    next_maintenance = now + maintain_every
                self._wake.clear()
                try:
                    if now >= next_look:
                        next_look = now + self._observe_every
                        await self.observe_backlog()
                    drained = await self.drain_once() if self._publisher.ready else 0
                except (PublishError, PyMongoError) as exc:
                    stop_if_cancelled()
                    log.warning("outbox relay: %s; retrying in %.1f s", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                backoff = self._poll
                if drained >= self._batch_size:
                    continue  # there is probably more right behind
                timeout = max(0.0, min(self._poll, next_maintenance - time.monotonic()))
                # Not wait_for: on Python 3.11 it swallows a cancellation that meets a wake-up
                # (a commit's), and the relay would outlive its service.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
        finally:
            await self._leases.release_all()

    async def observe_backlog(self) -> None:
        """Count the events pending on the shards this replica holds, and note when the
        oldest was staged (entries staged before ``at`` existed are counted, not dated)."""
        shards = self._leases.owned()
        for collection in self._collections:
            if not shards:
                self._observed[collection.name] = (0, None)
                continue
            found = await collection.aggregate(
                [
                    {"$match": {PENDING_FIELD: {"$in": shards}}},
                    {
                        "$group": {
                            "_id": None,
                            "pending": {"$sum": {"$size": {"$ifNull": [f"${OUTBOX_FIELD}", []]}}},
                            "oldest": {"$min": {"$min": f"${OUTBOX_FIELD}.at"}},
                        }
                    },
                ]
            )
            totals = await found.to_list(1)
            if totals:
                oldest = totals[0].get("oldest")
                self._observed[collection.name] = (
                    int(totals[0]["pending"]),
                    float(oldest) if isinstance(oldest, int | float) else None,
                )
            else:
                self._observed[collection.name] = (0, None)

    def pending_readings(self) -> list[Reading]:
        return [(n, {"collection": name}) for name, (n, _) in self._observed.items()]

    def oldest_age_readings(self) -> list[Reading]:
        """The age now (it grows between looks, and while the relay is stuck)."""
        now = time.time()
        return [
            (max(0.0, now - oldest) if oldest is not None and n else 0.0, {"collection": name})
            for name, (n, oldest) in self._observed.items()
        ]

    async def drain_once(self) -> int:
        """Publish one batch per collection; returns how many events went out."""
        total = 0
        for collection in self._collections:
            shards = self._leases.owned()
            if not shards:
                return total
            docs = await collection.find(
                {PENDING_FIELD: {"$in": shards}}, {OUTBOX_FIELD: 1, PENDING_FIELD: 1}
            ).to_list(self._batch_size)
            # Check the lease again right before publishing: it may have lapsed meanwhile.
            owned = set(self._leases.owned())
            docs = [d for d in docs if d.get(PENDING_FIELD) in owned and d.get(OUTBOX_FIELD)]
            if not docs:
                continue
            results = await asyncio.gather(*(self._publish_in_order(d) for d in docs))
            await self._mark_sent(
                collection, [(d["_id"], sent) for d, (sent, _) in zip(docs, results, strict=True)]
            )
            sent_now = sum(len(sent) for sent, _ in results)
            total += sent_now
            self.published += sent_now
            failures = [err for _, err in results if err is not None]
            if failures:
                raise PublishError(f"{len(failures)} aggregate(s) not published: {failures[0]!r}")
        return total

    async def _publish_in_order(self, doc: Doc) -> tuple[list[str], BaseException | None]:
        """One aggregate's entries strictly in order; stop at the first failure."""
        sent: list[str] = []
        for entry in doc[OUTBOX_FIELD]:
            context = propagate.extract(entry.get("trace") or {})
            with tracer.start_as_current_span(
                "outbox relay", context=context, kind=trace.SpanKind.INTERNAL
            ) as span:
                span.set_attribute("messaging.message.id", entry["id"])
                span.set_attribute("messaging.destination.name", entry["topic"])
                headers = {
                    "content-type": EVENT_CONTENT_TYPE,
                    "ce_id": entry["id"],
                    "ce_type": entry["type"],
                }
                try:
                    await self._publisher.publish(
                        entry["topic"], entry["key"], entry["body"].encode(), headers
                    )
                except Exception as exc:
                    span.record_exception(exc)
                    return sent, exc
            sent.append(entry["id"])
        return sent, None

    @staticmethod
    async def _mark_sent(
        collection: AsyncCollection[Doc], sent: list[tuple[Any, list[str]]]
    ) -> None:
        operations: list[UpdateOne] = []
        for doc_id, ids in sent:
            if not ids:
                continue
            operations.append(
                UpdateOne({"_id": doc_id}, {"$pull": {OUTBOX_FIELD: {"id": {"$in": ids}}}})
            )
            # Cleared only if nothing was staged meanwhile (a concurrent write keeps it pending).
            operations.append(
                UpdateOne(
                    {"_id": doc_id, OUTBOX_FIELD: {"$size": 0}}, {"$unset": {PENDING_FIELD: ""}}
                )
            )
        if operations:
            await collection.bulk_write(operations, ordered=True)


class PublishError(Exception):
    """Some events could not be published this round; they stay pending."""
