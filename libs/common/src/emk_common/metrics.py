"""OpenTelemetry metrics, exported for Prometheus at ``GET /metrics`` on each service's port.

One SDK ``MeterProvider`` per process (like the tracer provider: the global can be set only
once, so a second service in the same process shares the first one's, and its name), read by
the OpenTelemetry Prometheus exporter into a registry of its own. Every series carries
``service_name`` (a constant label; ``target_info`` has the whole resource too), so the
dashboards and alerts in ``deploy/k8s/base/monitoring`` can group by it.

What is exported (Prometheus names):

* ``http_server_request_duration_seconds`` — the FastAPI instrumentation's
  ``http.server.request.duration`` (stable HTTP conventions), kept to ``http_route`` (the
  route's template, never the path: a share code is a secret), ``http_request_method`` and
  ``http_response_status_code``;
* ``emk_outbox_pending_events``, ``emk_outbox_oldest_age_seconds`` — what the outbox relay
  counted on its last look (label ``collection``); the age grows at each scrape while the
  relay does not look again;
* ``emk_consumer_lag`` — per assigned ``topic`` and ``partition``: the partition's highwater
  (from the consumer's last fetch) less the next offset to handle;
* ``emk_dlq_records_total`` (label ``topic``: the source topic), ``emk_inbox_duplicates_total``;
* ``emk_scheduler_lag_seconds`` (label ``scheduler``): how late the items the scheduler's last
  round handled were (0 when nothing was due);
* ``emk_deliveries_total`` (``channel``, ``outcome``), ``emk_deadline_breaches_total``
  (``deadline``).

Nothing here queries a database: observable gauges read values their owners keep (a scrape
runs their callbacks), counters are added to where things happen. No label carries personal
data, an identifier of a person or aggregate, or a code.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.view import DropAggregation, View
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.util.types import Attributes
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

__all__ = [
    "CONSUMER_LAG",
    "DEADLINE_BREACHES",
    "DELIVERIES",
    "DLQ_RECORDS",
    "INBOX_DUPLICATES",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PENDING",
    "Exposition",
    "Reading",
    "SchedulerLag",
    "metrics_router",
    "setup_metrics",
    "watch",
]

_log = logging.getLogger(__name__)

# The labels the request histogram keeps: every other attribute of the instrumentation (the
# scheme, the protocol version, an error type) is dropped, and with it its cardinality.
HTTP_DURATION = "http.server.request.duration"
_HTTP_LABELS = {"http.route", "http.request.method", "http.response.status_code"}
# Bytes per request (not on any dashboard), and the old conventions' metrics the
# instrumentation also records (emk_common.telemetry): dropped.
_DROPPED = (
    "http.server.request.body.size",
    "http.server.response.body.size",
    "http.server.duration",
    "http.server.request.size",
    "http.server.response.size",
)
HTTP_ACTIVE = "http.server.active_requests"

_meter = metrics.get_meter("emk")

# --- counters (added to where things happen) --------------------------------------------------

DLQ_RECORDS = _meter.create_counter(
    "emk.dlq.records", unit="{record}", description="Records sent to a dead-letter topic."
)
INBOX_DUPLICATES = _meter.create_counter(
    "emk.inbox.duplicates",
    unit="{event}",
    description="Redelivered events the inbox recognised and skipped.",
)
DELIVERIES = _meter.create_counter(
    "emk.deliveries",
    unit="{delivery}",
    description="Delivery attempts by channel and outcome (sent, retry, failed, no_contact, "
    "expired, held, folded).",
)
DEADLINE_BREACHES = _meter.create_counter(
    "emk.deadline_breaches",
    unit="{breach}",
    description="Legal deadlines of applications found breached by the scheduler.",
)

# --- gauges read at each scrape from what their owners keep ----------------------------------

OUTBOX_PENDING = "emk.outbox.pending_events"
OUTBOX_OLDEST_AGE = "emk.outbox.oldest_age"
CONSUMER_LAG = "emk.consumer.lag"
_SCHEDULER_LAG = "emk.scheduler.lag"

Reading = tuple[float, Attributes]
Reader = Callable[[], Iterable[Reading]]

_lock = threading.Lock()
_readers: dict[str, list[Reader]] = {OUTBOX_PENDING: [], OUTBOX_OLDEST_AGE: [], CONSUMER_LAG: []}


def watch(gauge: str, reader: Reader) -> Callable[[], None]:
    """Have ``gauge`` (one of the names above) read ``reader`` at each scrape, until the
    returned function is called. A reader must be cheap and must not block: it returns
    values its owner keeps. One that raises is logged and skipped."""
    with _lock:
        _readers[gauge].append(reader)

    def unwatch() -> None:
        with _lock:
            if reader in _readers[gauge]:
                _readers[gauge].remove(reader)

    return unwatch


def _observer(gauge: str) -> Callable[[CallbackOptions], Iterator[Observation]]:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        with _lock:
            readers = list(_readers[gauge])
        for reader in readers:
            try:
                readings = list(reader())
            except Exception as exc:
                _log.warning("metrics: a reader of %s failed: %s", gauge, type(exc).__name__)
                continue
            for value, attributes in readings:
                yield Observation(value, attributes)

    return observe


_meter.create_observable_gauge(
    OUTBOX_PENDING,
    callbacks=[_observer(OUTBOX_PENDING)],
    unit="{event}",
    description="Events written to an outbox and not yet published (on the shards this "
    "replica's relay holds).",
)
_meter.create_observable_gauge(
    OUTBOX_OLDEST_AGE,
    callbacks=[_observer(OUTBOX_OLDEST_AGE)],
    unit="s",
    description="How long the oldest unpublished event has waited in the outbox.",
)
_meter.create_observable_gauge(
    CONSUMER_LAG,
    callbacks=[_observer(CONSUMER_LAG)],
    unit="{record}",
    description="Records of an assigned partition not yet handled by this consumer.",
)
_scheduler_lag = _meter.create_gauge(
    _SCHEDULER_LAG,
    unit="s",
    description="How late the items a scheduler's last round handled were (0: none was due).",
)


@dataclass
class SchedulerLag:
    """``emk_scheduler_lag_seconds{scheduler=name}``: a round notes how late each item it
    handles is (:meth:`late`); when the round ends (:meth:`publish`, which ``PollingLoop``
    calls) the gauge shows the latest of them, or 0."""

    name: str
    _worst: float = field(default=0.0, init=False)

    def late(self, due: datetime | None, now: datetime) -> None:
        if due is not None:
            self._worst = max(self._worst, (now - due).total_seconds())

    @property
    def worst(self) -> float:
        """How late the latest item of the round under way was (seconds; 0: none yet)."""
        return self._worst

    def publish(self) -> None:
        worst, self._worst = self._worst, 0.0
        _scheduler_lag.set(worst, {"scheduler": self.name})


# --- the exposition ---------------------------------------------------------------------------


class _Reader(PrometheusMetricReader):
    """The exporter's reader, out of prometheus_client's global registry (the service's
    exposition has a registry of its own)."""

    def __init__(self) -> None:
        super().__init__()
        REGISTRY.unregister(self._collector)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass  # nothing registered globally to undo


class _Labelled:
    """The exporter's collector with constant labels added to each of its samples, and one
    family per name: the exporter makes a family per set of label keys (a request that
    matched no route has no ``http_route``), and Prometheus refuses a name described twice."""

    def __init__(self, inner: Any, labels: dict[str, str]) -> None:
        self._inner = inner
        self._labels = labels

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for family in self._inner.collect():
            samples = [
                Sample(s.name, {**s.labels, **self._labels}, s.value, s.timestamp, s.exemplar)
                for s in family.samples
            ]
            same = families.get(family.name)
            if same is not None and same.type == family.type:
                same.samples.extend(samples)
            else:
                family.samples = samples
                families[family.name] = family
        yield from families.values()


@dataclass(frozen=True)
class Exposition:
    """The process's metrics, as Prometheus reads them."""

    service_name: str
    provider: MeterProvider
    registry: CollectorRegistry

    def scrape(self) -> bytes:
        """The text exposition of every series (runs the observable gauges' callbacks)."""
        return generate_latest(self.registry)


_installed: Exposition | None = None


def build_exposition(service_name: str) -> Exposition:
    """A meter provider tagged with ``service.name`` and a Prometheus registry reading it
    (not installed as the global: see :func:`setup_metrics`)."""
    reader = _Reader()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Labelled(reader._collector, {"service_name": service_name}))
    provider = MeterProvider(
        resource=Resource.create({SERVICE_NAME: service_name}),
        metric_readers=[reader],
        views=[
            View(instrument_name=HTTP_DURATION, attribute_keys=_HTTP_LABELS),
            View(instrument_name=HTTP_ACTIVE, attribute_keys={"http.request.method"}),
            *(View(instrument_name=name, aggregation=DropAggregation()) for name in _DROPPED),
        ],
        # No exemplars: the text exposition has none, and recording them costs each request.
        exemplar_filter=AlwaysOffExemplarFilter(),
    )
    return Exposition(service_name, provider, registry)


def setup_metrics(service_name: str) -> Exposition:
    """Install (once per process) and return the global meter provider and its exposition."""
    global _installed
    with _lock:
        if _installed is not None:
            return _installed
        exposition = build_exposition(service_name)
        metrics.set_meter_provider(exposition.provider)
        if metrics.get_meter_provider() is not exposition.provider:
            _log.warning("a global meter provider is already set; /metrics will be empty")
        _installed = exposition
        return exposition


def metrics_router(exposition: Exposition) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        # In the event loop, on purpose: the gauges' readers look at the loop's objects (a
        # consumer's assignment), and all they do is read values kept in memory.
        return Response(exposition.scrape(), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return router
