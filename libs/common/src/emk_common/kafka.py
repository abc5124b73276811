"""Kafka through FastStream: the broker, a background connection, publishing, consuming.

Consuming is at-least-once with effectively-once effects:
- offsets are committed only after the handler's effect is durable (``NACK_ON_ERROR``
  with auto-commit off: FastStream commits after the handler returns);
- each handler runs through the :class:`~emk_common.inbox.Inbox`, so a redelivery is skipped;
- what one fetch returns is applied as a batch, one transaction and one offset commit for
  all of it; a failing handler rolls the batch back and its records are applied one by one;
- a failing handler is retried with exponential backoff, a bounded number of times, then
  the record goes to the service's own ``emk.<service>.dlq`` (whatever topic it came from), its
  key kept, where it came from and why in its headers, and the consumer moves on;
- while MongoDB is unreachable nothing is dead-lettered: the handler waits and retries,
  and if that lasts, the record is handed back to Kafka (``nack``) after a pause; a handler
  that depends on another service raises :class:`RetryLater` while that peer is down or
  slow, and is treated the same way (an outage is nobody's poison message).
New consumer groups start from the earliest offset (aiokafka's ``latest`` skips events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import ConnectionFailure, PyMongoError

from emk_common import catalog
from emk_common.catalog import dlq_topic
from emk_common.events import Envelope, EventData
from emk_common.inbox import Effect, Inbox, InboxItem
from emk_common.metrics import DLQ_RECORDS, Reading
from emk_common.settings import ServiceSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

E = TypeVar("E", bound=EventData)


class RetryLater(Exception):  # noqa: N818 - an instruction, not an error
    """Raised by a handler when something outside the event failed (a peer service down or
    slow, a race it will win next time): retried with backoff until it passes, never
    dead-lettered. The message names the cause for the log; it must not quote data."""


class DeadLetter(Exception):  # noqa: N818 - an instruction, not an error
    """Raised by a handler for an event it can never apply (it names an aggregate nobody
    has): straight to the dead-letter topic, without the retries that could not help. The
    message is the record's ``reason`` header and is logged: it must not quote data."""


Handler = Callable[[E, Envelope, AsyncClientSession], Awaitable[None]]


_SASL: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def kafka_security(settings: ServiceSettings) -> BaseSecurity | None:
    """How the service's Kafka clients connect, from ``KAFKA_SECURITY_PROTOCOL`` and its
    companions: the one place these settings are read. The FastStream broker takes it as
    ``security=``; the plain aiokafka clients take :func:`client_options`, made from it.
    ``None`` is PLAINTEXT (the local stack)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    use_ssl = protocol in ("SSL", "SASL_SSL")
    context: ssl.SSLContext | None = None
    if use_ssl:
        cafile = settings.kafka_ssl_cafile
        # Verifies the brokers' certificates and names; the cluster's CA when given.
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return _SASL[settings.kafka_sasl_mechanism](
        settings.kafka_sasl_username,
        settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=use_ssl,
    )


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """The security keyword arguments of an ``AIOKafkaConsumer``/``Producer``/``AdminClient``:
    exactly what the FastStream broker passes its own clients for :func:`kafka_security`."""
    return parse_security(kafka_security(settings))


def create_broker(settings: ServiceSettings, tracer_provider: TracerProvider | None) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        security=kafka_security(settings),
        client_id=f"emk-{settings.service_name}",
        acks="all",
        linger_ms=2,
        request_timeout_ms=10_000,
        allow_auto_create_topics=False,
        middlewares=(KafkaTelemetryMiddleware(tracer_provider=tracer_provider),),
        graceful_timeout=10.0,
        logger=logging.getLogger(f"emk.{settings.service_name}.kafka"),
        log_level=logging.DEBUG,
        description=f"ЭМК {settings.service_name} events",
    )


async def ensure_topics(settings: ServiceSettings, topics: Iterable[str]) -> None:
    """Create the topics (and the service's own DLQ) that are missing; in a cluster the
    operator's manifests made them already (a service may not create topics), and this only
    lists them."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        request_timeout_ms=5000,
        **client_options(settings),
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = sorted({*topics, dlq_topic(settings.service_name)} - existing)
        for topic in wanted:  # one by one: a racing replica's creation is not our failure
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            topic,
                            settings.kafka_topic_partitions,
                            settings.kafka_topic_replication,
                        )
                    ]
                )
    finally:
        await admin.close()


class KafkaConnection:
    """Starts the broker in the background and keeps trying until Kafka answers.

    FastStream's ``broker.start()`` fails at once when no broker answers; a service must
    start and serve without Kafka (the outbox holds its events meanwhile). The relay may
    publish as soon as the producer is connected (``publishing``); readiness reports Kafka
    ``connected`` once every consumer has started too. A consumer group's join can take long
    (a member left behind by a stopped process holds it up): it never holds up the outbox.
    """

    def __init__(
        self, broker: KafkaBroker, settings: ServiceSettings, topics: Iterable[str]
    ) -> None:
        self.broker = broker
        self._settings = settings
        self._topics = set(topics)
        self._connected = asyncio.Event()
        self._publishing = False

    def add_topics(self, topics: Iterable[str]) -> None:
        self._topics.update(topics)

    @property
    def connected(self) -> bool:
        """Producer and every consumer started (what readiness reports as ``connected``)."""
        return self._connected.is_set()

    @property
    def publishing(self) -> bool:
        """The producer is connected: events may be published (consumers may still be
        joining their groups)."""
        return self._publishing or self.connected

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                await ensure_topics(self._settings, self._topics)
                await self.broker.connect()
                # Publishing needs only the producer: the outbox goes out while the consumers
                # join their groups (a join can take a while, and must never hold events up).
                self._publishing = True
                await self.broker.start()
            except Exception as exc:
                self._publishing = False
                log.info(
                    "Kafka not reachable yet (%s); retrying in %.1f s", type(exc).__name__, delay
                )
                await _quietly(self.broker.stop())
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._connected.set()
            log.info("connected to Kafka at %s", self._settings.kafka_bootstrap_servers)
            return

    async def state(self) -> str:
        if not self.connected:
            return "connecting"
        return "connected" if await self.broker.ping(timeout=1.0) else "unreachable"


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception:
        log.debug("ignored error while resetting the broker", exc_info=True)


class BrokerPublisher:
    """The outbox relay's :class:`~emk_common.outbox.Publisher`, over the FastStream broker."""

    def __init__(self, connection: KafkaConnection) -> None:
        self._connection = connection

    @property
    def ready(self) -> bool:
        return self._connection.publishing

    async def publish(self, topic: str, key: str, body: bytes, headers: dict[str, str]) -> None:
        await self._connection.broker.publish(body, topic, key=key.encode(), headers=headers)


@dataclass(frozen=True)
class _Registration(Generic[E]):
    name: str
    event: type[E]
    handler: Handler[E]


@dataclass(frozen=True)
class _Work:
    """One handler's share of one record, read and validated."""

    record: Any
    envelope: Envelope
    registration: _Registration[Any]
    data: EventData


@dataclass
class ConsumerStats:
    """What a consumer did since it was made (for tests, benchmarks and debugging)."""

    batches: int = 0  # fetches whose events were applied in one transaction
    fallbacks: int = 0  # batches rolled back by a failing handler and replayed one by one
    applied: int = 0  # (handler, event) effects committed
    batched: int = 0  # of which in a batch's transaction
    skipped: int = 0  # found in the inbox: a redelivery, or a copy earlier in the same batch
    dead_lettered: int = 0


# A batch subscriber waits this long (ms) for fetched records, and after an empty wait
# FastStream sleeps as long again before the next: the most an idle consumer adds to an
# event's latency (a quarter of it on average), traded against its wake-ups when idle.
_BATCH_POLL_MS = 20


# Topics whose records someone is waiting for (a one-time code to log in with): read by a
# consumer of their own (EventConsumer.subscribe).
URGENT_TOPICS = frozenset({catalog.NOTIFICATION_COMMANDS})


class EventConsumer:
    """Declares a service's event handlers; one Kafka subscriber for its topics (and one for
    each urgent topic it reads).

    With ``consumer_batch_max`` above 1, what one fetch returns (up to that many records) is
    applied as a batch: one MongoDB transaction for every inbox mark and effect, then one
    offset commit. A handler that fails rolls the batch back, and its records are applied one
    by one exactly as with ``consumer_batch_max = 1`` (retries, backoff, dead letters), so a
    poison event reaches the dead-letter topic alone.
    """

    def __init__(self, settings: ServiceSettings, inbox: Inbox) -> None:
        self._settings = settings
        self._inbox = inbox
        self.group_id = settings.kafka_consumer_group
        self._handlers: dict[str, list[_Registration[Any]]] = defaultdict(list)
        self.stats = ConsumerStats()
        # (topic, partition) -> the offset after the last record handled here (consumer lag).
        self._handled: dict[tuple[str, int], int] = {}

    def on(self, event: type[E], name: str | None = None) -> Callable[[Handler[E]], Handler[E]]:
        """Register ``handler`` for ``event``; ``name`` (default: its qualified name) is its
        inbox key, so renaming a handler replays history into it: pass the old name."""

        def register(handler: Handler[E]) -> Handler[E]:
            handler_name = name or f"{handler.__module__}.{handler.__qualname__}"
            self._handlers[event.event_type()].append(_Registration(handler_name, event, handler))
            return handler

        return register

    @property
    def topics(self) -> list[str]:
        return sorted(
            {cls.topic for regs in self._handlers.values() for cls in (r.event for r in regs)}
        )

    def subscribe(self, broker: KafkaBroker) -> None:
        """One subscriber, so one member of the group per replica, for the service's topics:
        each member that joins makes the whole group rebalance, and a service whose every
        topic had its own consumer took 35-47 s to join on Tansu (one rebalance per topic).
        A topic of commands someone is waiting for (a login code) has a subscriber of its
        own, so that it never queues behind an event whose handler waits out an outage."""
        urgent = [t for t in self.topics if t in URGENT_TOPICS]
        rest = [t for t in self.topics if t not in URGENT_TOPICS]
        for topics in (urgent, rest):
            if topics:
                self._subscribe(broker, topics)

    def _subscribe(self, broker: KafkaBroker, topics: Sequence[str]) -> None:
        settings = self._settings
        session = settings.kafka_session_timeout_ms
        broker.subscriber(
            *topics,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=session,
            rebalance_timeout_ms=session,
            heartbeat_interval_ms=max(100, session // 3),
            batch=settings.consumer_batch_max > 1,
            max_records=settings.consumer_batch_max,
            batch_timeout_ms=_BATCH_POLL_MS,
            title=f"{settings.service_name}:{topics[0] if len(topics) == 1 else 'events'}",
        )(self._make_entrypoint(broker))

    def _make_entrypoint(self, broker: KafkaBroker) -> Callable[[KafkaMessage], Awaitable[None]]:
        async def consume(message: KafkaMessage) -> None:
            # NACK_ON_ERROR: FastStream commits the offsets after this returns; if it raises,
            # it rewinds every partition of the batch to its first record.
            raw = message.raw_message
            if isinstance(raw, tuple):
                await self.dispatch_batch(broker, raw)
                for record in raw:
                    self._handled[(record.topic, record.partition)] = record.offset + 1
            else:
                await self.dispatch(broker, raw)
                self._handled[(raw.topic, raw.partition)] = raw.offset + 1

        return consume

    def lag(self, broker: KafkaBroker) -> list[Reading]:
        """``emk_consumer_lag`` per partition assigned to this replica: the highwater the
        consumer's last fetch saw, less the offset after the last record handled here (or,
        before one is, the consumer's fetch position). Memory only, no request to Kafka."""
        readings: list[Reading] = []
        assigned: set[tuple[str, int]] = set()
        for subscriber in broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:
                continue
            for tp in consumer.assignment():
                key = (tp.topic, tp.partition)
                assigned.add(key)
                highwater = consumer.highwater(tp)
                position = self._handled.get(key)
                if position is None:
                    position = _fetch_position(consumer, tp)
                if highwater is None or position is None:
                    continue
                lag = max(0, highwater - position)
                readings.append((lag, {"topic": tp.topic, "partition": str(tp.partition)}))
        for key in set(self._handled) - assigned:
            del self._handled[key]  # revoked: another replica's now
        return readings

    async def dispatch(self, broker: KafkaBroker, record: Any) -> None:
        """Apply one record, one handler at a time, each in its own transaction."""
        for work in await self._read(broker, record):
            with self._span(work, batched=False):
                await self._apply(broker, work)

    async def dispatch_batch(self, broker: KafkaBroker, records: Sequence[Any]) -> None:
        """Apply the records of one fetch (in order within each partition) in one transaction;
        if a handler fails, roll it back and apply them one by one instead."""
        batch = [work for record in records for work in await self._read(broker, record)]
        if not batch:
            return
        if len(batch) == 1:  # a transaction of its own is the cheaper way
            with self._span(batch[0], batched=True):
                await self._apply(broker, batch[0])
            return
        failures: list[tuple[_Work, Exception]] = []
        items = [
            InboxItem(work.registration.name, work.envelope.id, self._effect(work, failures))
            for work in batch
        ]
        try:
            ran = await self._inbox.apply_batch(items)
        except Exception as exc:
            self.stats.fallbacks += 1
            log.warning(
                "a batch of %d events failed (%s); applying them one by one",
                len(batch),
                type(exc).__name__,
            )
            # A handler's DeadLetter is its verdict on the event, whatever else it sees:
            # dead-lettered at once, as one by one, rather than asked again.
            dead = {id(w): exc for w, exc in failures[-1:] if isinstance(exc, DeadLetter)}
            for work in batch:
                with self._span(work, batched=True):
                    if id(work) in dead:
                        await self._cannot_apply(broker, work, dead[id(work)])
                    else:
                        await self._apply(broker, work)
            return
        self.stats.batches += 1
        self.stats.applied += sum(ran)
        self.stats.batched += sum(ran)
        self.stats.skipped += len(ran) - sum(ran)

    async def _read(self, broker: KafkaBroker, record: Any) -> list[_Work]:
        """The record's work, one per handler of its type; what cannot be read is dead-lettered
        here (no retry could help), a type nobody handles is ignored."""
        try:
            envelope = Envelope.from_bytes(record.value)
        except ValidationError as exc:
            await self._dead_letter(broker, record, exc, handler="envelope")
            return []
        work = []
        for registration in self._handlers.get(envelope.type, ()):
            try:
                data = registration.event.model_validate(envelope.data)
            except ValidationError as exc:
                await self._dead_letter(broker, record, exc, handler=registration.name)
                continue
            work.append(_Work(record, envelope, registration, data))
        return work

    def _effect(self, work: _Work, failures: list[tuple[_Work, Exception]]) -> Effect:
        """The handler's call in a batch; a failure is noted (the transaction machinery may
        wrap or replace what reaches the caller)."""

        async def effect(session: AsyncClientSession) -> None:
            with self._span(work, batched=True):
                try:
                    await work.registration.handler(work.data, work.envelope, session)
                except Exception as exc:
                    failures.append((work, exc))
                    raise

        return effect

    @staticmethod
    def _span(work: _Work, *, batched: bool) -> contextlib.AbstractContextManager[trace.Span]:
        """The handler's span. One by one, FastStream's span for the record continues the
        producer's trace and this is its child. A batch's span starts a trace of its own
        (linked to the producers'), so each event's handler continues its producer's trace
        itself, from the record's headers (or the envelope's): the spans, logs and events
        written by the handler stay in the trace of the request that caused them."""
        name = f"handle {work.envelope.type}"
        attributes = {
            "emk.handler": work.registration.name,
            "messaging.message.id": work.envelope.id,
        }
        if not batched:
            return tracer.start_as_current_span(name, attributes=attributes)
        headers = {
            key: value.decode(errors="replace")
            for key, value in getattr(work.record, "headers", None) or ()
            if key in ("traceparent", "tracestate")
        }
        parent = propagate.extract(headers or work.envelope.trace_carrier())
        batch_span = trace.get_current_span().get_span_context()
        return tracer.start_as_current_span(
            name,
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            links=[trace.Link(batch_span)] if batch_span.is_valid else None,
            attributes=attributes,
        )

    async def _apply(self, broker: KafkaBroker, work: _Work) -> None:
        """One handler on one event in its own transaction: retried with backoff, an outage
        waited out, dead-lettered when it cannot apply."""
        reg, envelope, record = work.registration, work.envelope, work.record
        settings = self._settings
        attempt = 0
        outage_attempt = 0
        outage_waited = 0.0
        while True:
            try:
                applied = await self._inbox.apply_once(
                    reg.name, envelope.id, lambda session: reg.handler(work.data, envelope, session)
                )
                if applied:
                    self.stats.applied += 1
                else:
                    self.stats.skipped += 1
                return
            except DeadLetter as exc:
                await self._cannot_apply(broker, work, exc)
                return
            except Exception as exc:
                if _an_outage(exc):
                    # Our own database or a peer is away: not the event's fault, never
                    # dead-lettered.
                    if outage_waited >= 30:
                        raise  # nack: Kafka hands the record back; the loop below paces it
                    delay = min(
                        settings.consumer_backoff_seconds * 2 ** (outage_attempt),
                        settings.consumer_backoff_max_seconds,
                    )
                    outage_attempt += 1
                    away = _safe_message(exc) if isinstance(exc, RetryLater) else "MongoDB away"
                    log.warning(
                        "handler %s waits on %s (%s); retrying in %.2f s",
                        reg.name, envelope.type, away, delay,
                    )  # fmt: skip
                    await asyncio.sleep(delay)
                    outage_waited += delay
                    continue
                attempt += 1
                if attempt >= settings.consumer_max_attempts:
                    # The same safe summary as the DLQ header: an exception's text can quote data.
                    log.error(
                        "handler %s failed %d times on event %s; dead-lettering: %s",
                        reg.name,
                        attempt,
                        envelope.id,
                        _reason(exc),
                    )
                    await self._dead_letter(broker, record, exc, handler=reg.name)
                    return
                delay = min(
                    settings.consumer_backoff_seconds * 2 ** (attempt - 1),
                    settings.consumer_backoff_max_seconds,
                )
                log.warning(
                    "handler %s failed on event %s (attempt %d): %s; retrying in %.2f s",
                    reg.name,
                    envelope.id,
                    attempt,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _cannot_apply(self, broker: KafkaBroker, work: _Work, exc: DeadLetter) -> None:
        log.error(
            "handler %s cannot apply event %s; dead-lettering: %s",
            work.registration.name,
            work.envelope.id,
            _reason(exc),
        )
        await self._dead_letter(broker, work.record, exc, handler=work.registration.name)

    async def _dead_letter(
        self, broker: KafkaBroker, record: Any, exc: BaseException, *, handler: str
    ) -> None:
        """To the service's own DLQ, as it came (value and key), with where it came from and
        why: one DLQ holds the dead letters of every topic the service reads."""
        headers = {
            "original_topic": record.topic,
            "original_partition": str(record.partition),
            "original_offset": str(record.offset),
            "handler": handler,
            "exc_class": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "reason": _reason(exc),
        }
        dlq = dlq_topic(self._settings.service_name)
        await broker.publish(record.value, dlq, key=record.key, headers=headers)
        self.stats.dead_lettered += 1
        DLQ_RECORDS.add(1, {"topic": record.topic})


def _an_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says a dependency is away rather than that the event cannot apply:
    MongoDB unreachable or out of its time budget (pymongo marks a timeout so), a peer asking
    to come back later."""
    if isinstance(exc, ConnectionFailure | RetryLater):
        return True
    return isinstance(exc, PyMongoError) and exc.timeout


def _fetch_position(consumer: Any, tp: Any) -> int | None:
    """aiokafka's fetch position of an assigned partition, if it has one, without waiting
    (``consumer.position`` is a coroutine that waits for one)."""
    try:
        state = consumer._subscription.subscription.assignment.state_value(tp)
    except Exception:
        return None
    if state is None or not state.has_valid_position:
        return None
    return int(state.position)


def _safe_message(exc: BaseException) -> str:
    """What failed, without quoting the data: a validation error's text would echo input."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors(include_input=False)
        )[:300]
    return str(exc)[:300]


def _reason(exc: BaseException) -> str:
    """Why a record is dead-lettered, short and without personal data: a validation error's
    locations and codes, a :class:`DeadLetter`'s own message (written not to quote data); of
    any other exception only its class — its text may quote what the handler read (a
    duplicate key's values, a peer's answer)."""
    if isinstance(exc, ValidationError | DeadLetter):
        return _safe_message(exc)[:200]
    return f"{type(exc).__name__} on every attempt"
