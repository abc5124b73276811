from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from emk_common.health import health_router
from emk_common.problems import install_problem_handlers
from emk_common.redaction import compile_secret_paths, redact, remember
from emk_common.telemetry import build_tracer_provider, instrument_fastapi


class Collector(ThreadingHTTPServer):
    """A stand-in OTLP/HTTP collector that records the paths it was posted to."""

    posts: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.posts.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector(("127.0.0.1", 0), _Handler)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def collector_url(server: Collector) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def test_spans_go_to_the_otlp_endpoint(collector: Collector) -> None:
    provider = build_tracer_provider("identity", collector_url(collector) + "/")
    with provider.get_tracer("test").start_as_current_span("work"):
        pass
    assert provider.force_flush(5_000)
    provider.shutdown()

    assert collector.posts == ["/v1/traces"]
    assert provider.resource.attributes["service.name"] == "identity"


def test_no_endpoint_exports_nothing(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even with the standard variable set, "off" means no exporter at all.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector_url(collector))
    provider = build_tracer_provider("records", None)
    with provider.get_tracer("test").start_as_current_span("work") as span:
        assert span.get_span_context().is_valid  # ids still exist for logs and events
    provider.force_flush(1_000)
    provider.shutdown()

    assert collector.posts == []


def build_app(provider: TracerProvider) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(health_router())

    @app.get("/books/{book_id}")
    async def book(book_id: str) -> dict[str, str]:
        return {"id": book_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    instrument_fastapi(app, provider)
    return app


@pytest.fixture
def traced() -> tuple[FastAPI, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return build_app(provider), exporter


async def test_request_produces_a_server_span(
    traced: tuple[FastAPI, InMemorySpanExporter],
) -> None:
    app, exporter = traced
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/books/b-1", params={"snils": "11223344595"})
        await client.get("/healthz")
        await client.get("/readyz")

    assert response.status_code == 200
    servers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    [span] = servers  # probes are not traced
    assert span.name == "GET /books/{book_id}"
    attributes = dict(span.attributes or {})
    assert attributes["http.status_code"] == 200
    assert attributes["http.route"] == "/books/{book_id}"
    assert "11223344595" not in repr(attributes)
    assert attributes["http.url"] == "http://test/books/b-1"


async def test_incoming_trace_context_is_continued(
    traced: tuple[FastAPI, InMemorySpanExporter],
) -> None:
    app, exporter = traced
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/books/b-2", headers=headers)

    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.context is not None
    assert f"{span.context.trace_id:032x}" == trace_id


async def test_unhandled_error_marks_the_span(
    traced: tuple[FastAPI, InMemorySpanExporter],
) -> None:
    app, exporter = traced
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["exception.type"] == "RuntimeError"
    # The message may quote data: it is neither an event nor an attribute of the span.
    assert not any(event.name == "exception" for event in span.events)


def run_isolated(code: str) -> str:
    """Global tracer provider state is per process and set-once: test it in a fresh one."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_setup_installs_the_global_provider_once() -> None:
    output = run_isolated(
        """
        from opentelemetry import propagate, trace
        from emk_common.telemetry import setup_telemetry

        first = setup_telemetry("identity", None)
        second = setup_telemetry("records", None)
        assert first is second
        assert trace.get_tracer_provider() is first
        print(first.resource.attributes["service.name"])
        print(sorted(propagate.get_global_textmap().fields))
        """
    )
    assert output.splitlines() == ["identity", "['traceparent', 'tracestate']"]


def test_setup_reuses_a_provider_installed_first() -> None:
    output = run_isolated(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from emk_common.telemetry import setup_telemetry

        mine = TracerProvider()
        trace.set_tracer_provider(mine)
        assert setup_telemetry("identity", "http://127.0.0.1:4318") is mine
        print("reused")
        """
    )
    assert output == "reused"


async def test_a_secret_path_segment_reaches_neither_a_span_nor_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI()
    install_problem_handlers(app)
    secrets = compile_secret_paths([r"(?<=/check/)[^/?]+"])
    remember(app, secrets)

    @app.get("/check/{code}")
    async def check(code: str) -> dict[str, str]:
        raise RuntimeError("the page failed")

    instrument_fastapi(app, provider, secrets)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/check/SECRETCODE2345", params={"x": "1"})
    assert answer.status_code == 500
    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    attributes = dict(span.attributes or {})
    assert "SECRETCODE2345" not in repr(attributes)
    assert attributes["http.url"] == "http://test/check/{secret}"
    assert "unhandled RuntimeError on GET /check/{secret}" in caplog.text
    assert "SECRETCODE2345" not in caplog.text
    assert redact("/a/check/X/b", secrets) == "/a/check/{secret}/b"
    assert redact("/a/check/X", None) == "/a/check/X"
