"""OpenTelemetry tracing: one provider per process, OTLP over HTTP when configured.

With no endpoint, spans are still created (trace ids reach the logs and the event
envelopes) but nothing is exported. OpenTelemetry lets the global provider be set only
once per process; a second service in the same process (tests, ``make run`` variants)
or a test that installed an in-memory exporter first gets the existing SDK provider.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation._semconv import (
    _OpenTelemetrySemanticConventionStability,
    _OpenTelemetryStabilitySignalType,
    _StabilityMode,
)
from opentelemetry.instrumentation.asgi import get_host_port_url_tuple
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from emk_common.redaction import redact

__all__ = ["build_tracer_provider", "instrument_fastapi", "setup_telemetry"]

_log = logging.getLogger(__name__)
# Probes run every few seconds per replica; their spans would bury real traffic.
# So are Prometheus' scrapes of /metrics.
_EXCLUDED_URLS = r"/healthz$,/readyz$,/metrics$"
_TRACES_PATH = "/v1/traces"


def build_tracer_provider(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
    """A provider tagged with ``service.name``, exporting to ``otlp_endpoint`` if given.

    The endpoint is the collector's base URL, as in ``OTEL_EXPORTER_OTLP_ENDPOINT``
    (``http://collector:4318``); the traces path is appended.
    """
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if otlp_endpoint:
        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith(_TRACES_PATH):
            endpoint += _TRACES_PATH
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def setup_telemetry(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
    """Install (once) and return the process's tracer provider; sets W3C propagation."""
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = build_tracer_provider(service_name, otlp_endpoint)
    trace.set_tracer_provider(provider)
    installed = trace.get_tracer_provider()
    if installed is not provider:
        # Someone installed a non-SDK provider first; the global cannot be replaced.
        # Ours still works for what is handed it explicitly (instrument_fastapi).
        _log.warning("a global tracer provider %r is already set; not replacing it", installed)
    return provider


def instrument_fastapi(
    app: FastAPI, provider: TracerProvider, secret_paths: re.Pattern[str] | None = None
) -> None:
    """Trace every request of ``app`` except the health probes; ``secret_paths`` (see
    :mod:`emk_common.redaction`) never reach a span."""

    def hook(span: Span, scope: dict[str, Any]) -> None:
        _without_secrets(span, scope, secret_paths)

    _stable_http_conventions()

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=_EXCLUDED_URLS,
        server_request_hook=hook,
        # One span per request, not one per ASGI message: a 5 MB upload is ~80 messages.
        exclude_spans=["receive", "send"],
    )


def _stable_http_conventions() -> None:
    """The instrumentation's stable HTTP conventions as well as the old ones
    (``OTEL_SEMCONV_STABILITY_OPT_IN=http/dup``, whatever the environment says): its request
    metric is then ``http.server.request.duration`` in seconds by ``http.route`` — the route's
    template — which the dashboards read; the old metrics (``http.server.duration``, whose
    attributes could carry a raw path) are dropped by :mod:`emk_common.metrics`' views, and the
    spans keep the old attributes next to the new ones."""
    stability = _OpenTelemetrySemanticConventionStability
    stability._initialize()  # type: ignore[no-untyped-call]
    with stability._lock:
        mapping = stability._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING
        mapping[_OpenTelemetryStabilitySignalType.HTTP] = _StabilityMode.HTTP_DUP


def _without_secrets(
    span: Span, scope: dict[str, Any], secret_paths: re.Pattern[str] | None
) -> None:
    """Keep query strings out of span attributes (``GET /books?snils=…`` carries a СНИЛС),
    and the secret segments of paths (a share code)."""
    if not span.is_recording():
        return
    path = str(scope.get("path", ""))
    secret = secret_paths is not None and secret_paths.search(path) is not None
    if not scope.get("query_string") and not secret:
        return
    attributes = getattr(span, "attributes", None) or {}
    _, _, url = get_host_port_url_tuple(scope)  # type: ignore[no-untyped-call]
    for key in ("http.url", "url.full"):
        if key in attributes:
            span.set_attribute(key, redact(url, secret_paths))
    for key in ("http.target", "url.path"):
        if key in attributes:
            span.set_attribute(key, redact(path, secret_paths))
    if "url.query" in attributes:
        span.set_attribute("url.query", "REDACTED")
