"""One trace from the producing HTTP request, through the relay and Kafka, to the consumer."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pymongo import AsyncMongoClient

from emk_testing import eventually

from .probe import consumer_app, new_probe, producer_app, running


async def test_one_trace_spans_the_request_the_relay_and_the_consumer(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    exporter = InMemorySpanExporter()
    probe = new_probe()
    producer, runtime = producer_app(probe)
    consumer, _ = consumer_app(probe)
    runtime.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))

    async with running(producer) as http, running(consumer):
        response = await http.post("/counters/c1/increment")
        assert response.status_code == 201

        def handled() -> list[ReadableSpan]:
            return [s for s in exporter.get_finished_spans() if s.name.startswith("handle ")]

        async def any_handled() -> list[ReadableSpan]:
            return handled()

        await eventually(any_handled, what="the consumer's handler span")

    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.kind == SpanKind.SERVER and "/counters" in s.name)
    assert request.context is not None
    trace_id = request.context.trace_id
    in_trace = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    kinds = {(s.kind, s.name.split(" ")[0]) for s in in_trace}
    assert (SpanKind.INTERNAL, "outbox") in kinds, kinds
    assert any(k == SpanKind.PRODUCER for k, _ in kinds), kinds
    assert any(k == SpanKind.CONSUMER for k, _ in kinds), kinds
    assert any(name == "handle" for _, name in kinds), kinds
