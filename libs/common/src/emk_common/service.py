"""How every service is put together: one process, FastAPI over HTTP and FastStream over Kafka.

A service's ``main.py`` builds a :class:`Runtime` (clients, broker, outbox, inbox,
consumer), declares its handlers on ``runtime.consumer``, and calls :func:`create_app`
with its routers. The lifespan then:

1. creates the indexes the outbox, inbox and service need (MongoDB must answer);
2. connects to Kafka in the background — the service serves while Kafka is away;
3. runs the outbox relay, which publishes once Kafka is connected;
4. reads the sessions identity revoked, on every replica, and refuses their access tokens
   (:mod:`emk_common.revocation`).

Every service answers ``GET /metrics`` (Prometheus, :mod:`emk_common.metrics`) on its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import pymongo
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification.asyncapi.site import get_asyncapi_html
from minio import Minio
from opentelemetry.sdk.trace import TracerProvider
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from emk_common.access_feed import install_access_feed
from emk_common.asyncapi import AsyncAPIDocument, consumed_events, service_document
from emk_common.auth import AccessTokenVerifier
from emk_common.clock import Clock, utc_now
from emk_common.events import Envelope
from emk_common.health import health_router
from emk_common.http_guard import HttpGuard
from emk_common.idempotency import COLLECTION as IDEMPOTENCY_KEYS
from emk_common.idempotency import IdempotencyStore, install_idempotency
from emk_common.inbox import Inbox
from emk_common.journal import install_journal
from emk_common.kafka import BrokerPublisher, EventConsumer, KafkaConnection, create_broker
from emk_common.leases import ShardLeases
from emk_common.logging import configure_logging
from emk_common.loops import bounded, supervised
from emk_common.metrics import (
    CONSUMER_LAG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    metrics_router,
    setup_metrics,
    watch,
)
from emk_common.mongo import mongo_client
from emk_common.outbox import Outbox, OutboxRelay, OutboxWrites, ensure_outbox_index
from emk_common.problems import install_problem_handlers
from emk_common.redaction import compile_secret_paths
from emk_common.redaction import remember as remember_secret_paths
from emk_common.request_id import RequestIdMiddleware
from emk_common.revocation import RevocationReader, RevokedSessions
from emk_common.s3 import ensure_bucket, s3_client
from emk_common.settings import ServiceSettings
from emk_common.telemetry import instrument_fastapi, setup_telemetry
from emk_common.unavailable import install_unavailable

log = logging.getLogger(__name__)

Doc = dict[str, Any]


@dataclass
class Runtime:
    """Everything a service's handlers and routes reach for, made once per process."""

    settings: ServiceSettings
    # The service's one clock: the inbox and the idempotency keys read it (the relay's leases
    # do not: they measure real seconds shared with other replicas).
    clock: Clock
    tracer_provider: TracerProvider
    mongo: AsyncMongoClient[Doc]
    db: AsyncDatabase[Doc]
    broker: KafkaBroker
    kafka: KafkaConnection
    consumer: EventConsumer
    produces: tuple[str, ...]
    outbox_collections: tuple[str, ...]
    s3: Minio | None = None
    relay: OutboxRelay | None = None
    startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Loops that run while the service serves (schedulers, dispatchers); cancelled on stop.
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # Run once on stop, after the loops: close clients the service opened.
    shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    replica_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Stages events in an aggregate's write; the write itself wakes the relay (OutboxWrites).
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.settings.outbox_shards)

    def collection(self, name: str) -> AsyncCollection[Doc]:
        return self.db[name]

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()


def create_runtime(
    settings: ServiceSettings,
    *,
    produces: Sequence[str] = (),
    outbox_collections: Sequence[str] = (),
    uses_s3: bool = False,
    clock: Clock = utc_now,
) -> Runtime:
    configure_logging(settings.service_name, settings.log_level)
    provider = setup_telemetry(settings.service_name, settings.otel_exporter_otlp_endpoint)
    setup_metrics(settings.service_name)  # before the broker: its middleware takes a meter
    woken: list[Runtime] = []  # the runtime, once made: its writes wake its relay

    def wake() -> None:
        for made in woken:
            made.wake_relay()

    writes = OutboxWrites(settings.mongodb_database, outbox_collections, wake)
    mongo = mongo_client(settings, [writes])
    broker = create_broker(settings, provider)
    consumer = EventConsumer(
        settings, Inbox(mongo, mongo[settings.mongodb_database]["inbox"], clock)
    )
    runtime = Runtime(
        settings=settings,
        clock=clock,
        tracer_provider=provider,
        mongo=mongo,
        db=mongo[settings.mongodb_database],
        broker=broker,
        kafka=KafkaConnection(broker, settings, produces),
        consumer=consumer,
        produces=tuple(produces),
        outbox_collections=tuple(outbox_collections),
        s3=s3_client(settings) if uses_s3 else None,
    )
    woken.append(runtime)
    for topic in produces:
        broker.publisher(
            topic,
            title=f"{topic}:publish",
            description=f"Events of the {settings.service_name} service (CloudEvents JSON).",
            schema=Envelope,
        )
    return runtime


def create_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    routers: Iterable[APIRouter] = (),
    version: str = "1.0.0",
    secret_paths: Sequence[str] = (),
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """The service's app. ``body_limits`` gives a request path a body limit of its own
    (bytes) instead of ``EMK_MAX_BODY_BYTES`` — a route that streams a larger body itself."""
    # The audit journal's collector and sealer: a background loop; its anchors ride the outbox.
    install_journal(runtime)
    # Its sealed accesses to a person's data, on emk.access; their reasons, for identity alone.
    routers = [*routers, install_access_feed(runtime)]
    runtime.consumer.subscribe(runtime.broker)
    runtime.kafka.add_topics(runtime.consumer.topics)
    idempotency = IdempotencyStore(
        runtime.db[IDEMPOTENCY_KEYS],
        ttl=timedelta(hours=runtime.settings.idempotency_ttl_hours),
        clock=runtime.clock,
    )
    # Every replica reads every revoked session (no consumer group) and refuses its tokens.
    revocations = RevocationReader(runtime.settings, RevokedSessions(runtime.clock))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Index builds may scan a large collection once: longer than an operation's budget.
        with pymongo.timeout(runtime.settings.mongodb_startup_timeout_seconds):
            await _prepare_storage(runtime)
            await idempotency.ensure_indexes()
        # Every background task is supervised: one that crashes is logged and started again.
        named: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("kafka-connect", runtime.kafka.run),
            ("revoked-sessions", revocations.run),
        ]
        # The app's verifier is set once create_app has returned: handed the set here.
        verifier = getattr(app.state, "access_verifier", None)
        if isinstance(verifier, AccessTokenVerifier):
            verifier.refuse_revoked(revocations.revoked)
            named.append(("token-keys", verifier.warm))
        unwatch = [watch(CONSUMER_LAG, lambda: runtime.consumer.lag(runtime.broker))]
        if runtime.outbox_collections:
            relay = _create_relay(runtime)
            runtime.relay = relay
            named.append(("outbox-relay", relay.run))
            unwatch.append(watch(OUTBOX_PENDING, relay.pending_readings))
            unwatch.append(watch(OUTBOX_OLDEST_AGE, relay.oldest_age_readings))
        named.extend(
            (getattr(loop, "__qualname__", "background"), loop) for loop in runtime.background
        )
        tasks = [asyncio.create_task(supervised(name, run), name=name) for name, run in named]
        app.state.runtime = runtime
        try:
            yield
        finally:
            for stop_watching in unwatch:
                stop_watching()
            await _stop(runtime, tasks)

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.revocations = revocations
    # Before the problem handlers: inside their 500 guard, it sees a route's exception first.
    install_idempotency(app, idempotency)
    # The problem handlers' one guard answers MongoDB, S3 or identity's keys away with a 503
    # and Retry-After (whether a route or the idempotency middleware met it), anything else
    # with a 500.
    install_unavailable(app, runtime.settings.unavailable_retry_after_seconds)
    install_problem_handlers(app)
    secrets = compile_secret_paths(secret_paths)
    remember_secret_paths(app, secrets)
    instrument_fastapi(app, runtime.tracer_provider, secrets)
    # Outside the 500 guard and the idempotency keys: a body over its limit is refused (and an
    # answer's headers set) before either sees it.
    app.add_middleware(
        HttpGuard, max_body_bytes=runtime.settings.emk_max_body_bytes, body_limits=body_limits
    )
    # Outermost: every log line of the request, and its answer, carry its id.
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health_router(_readiness(runtime), {"kafka": runtime.kafka.state}))
    app.include_router(_asyncapi_router(runtime, title, version))
    app.include_router(metrics_router(setup_metrics(runtime.settings.service_name)))
    for router in routers:
        app.include_router(router)
    return app


# Each step of stopping gets this long: a stuck step (a Kafka client cancelled halfway
# through connecting, say) must not keep the process from ending.
_STOP_STEP_SECONDS = 10.0


async def _stop(runtime: Runtime, tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        _, stuck = await asyncio.wait(tasks, timeout=_STOP_STEP_SECONDS)
        if stuck:
            log.warning("stopping: %s did not stop in time", sorted(t.get_name() for t in stuck))
    # Kafka first: its consumers finish the event in hand (which may still call a peer
    # through a client a hook closes), then the service's own clients, then MongoDB.
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("kafka", runtime.broker.stop),
        *((getattr(hook, "__qualname__", "shutdown hook"), hook) for hook in runtime.shutdown),
        ("mongodb", runtime.mongo.close),
    ]
    for name, step in steps:
        try:
            await bounded(step(), _STOP_STEP_SECONDS)
        except TimeoutError:
            log.warning("stopping: %s did not stop in time", name)
        except Exception as exc:
            log.warning("stopping: %s failed: %s", name, type(exc).__name__)


async def _prepare_storage(runtime: Runtime) -> None:
    for name in runtime.outbox_collections:
        await ensure_outbox_index(runtime.db[name])
    if runtime.s3 is not None:
        await asyncio.to_thread(ensure_bucket, runtime.s3, runtime.settings.s3_bucket)
    for hook in runtime.startup:
        await hook()


def _create_relay(runtime: Runtime) -> OutboxRelay:
    settings = runtime.settings
    leases = ShardLeases(
        runtime.db["outbox_leases"],
        runtime.db["outbox_members"],
        owner=f"{settings.service_name}-{runtime.replica_id}",
        shards=settings.outbox_shards,
        lease_seconds=settings.outbox_lease_seconds,
        # Not the service's clock: a lease is shared with other replicas and the database,
        # and lasts seconds of real time, whatever time a test has moved the service to.
    )
    return OutboxRelay(
        [runtime.db[name] for name in runtime.outbox_collections],
        leases,
        BrokerPublisher(runtime.kafka),
        batch_size=settings.outbox_batch_size,
        poll_seconds=settings.outbox_poll_seconds,
    )


def _readiness(runtime: Runtime) -> dict[str, Callable[[], Awaitable[None]]]:
    async def mongodb() -> None:
        await runtime.mongo.admin.command("ping")

    checks: dict[str, Callable[[], Awaitable[None]]] = {"mongodb": mongodb}
    if runtime.s3 is not None:
        s3 = runtime.s3

        async def s3_bucket() -> None:
            if not await asyncio.to_thread(s3.bucket_exists, runtime.settings.s3_bucket):
                raise RuntimeError("bucket missing")

        checks["s3"] = s3_bucket
    return checks


def _asyncapi_router(runtime: Runtime, title: str, version: str) -> APIRouter:
    """The service's events (emk_common.asyncapi): every handler is declared by now (create_app
    subscribes the consumer first), so the document is made once."""
    router = APIRouter(include_in_schema=False)
    spec = AsyncAPIDocument(
        service_document(
            runtime.settings.service_name,
            title=f"{title} — events",
            version=version,
            produces=runtime.produces,
            consumes=consumed_events(runtime.consumer),
        )
    )

    @router.get("/asyncapi.json")
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(spec.to_jsonable())

    @router.get("/asyncapi")
    async def asyncapi_html() -> HTMLResponse:
        # FastStream's page (AsyncAPI's React component) takes any document; no try-it-out.
        return HTMLResponse(get_asyncapi_html(spec, try_it_out_path=None))

    return router


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def serve(app: str, settings: ServiceSettings) -> None:
    """Run one service process (``python -m <service>``)."""
    import uvicorn

    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # our JSON logging, configured by create_runtime
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is read by emk_common.http.client_ip
    )
