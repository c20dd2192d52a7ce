"""Client spans of the upstream layer (observability/tracing.py as its CallTracer), against real gRPC servers.

One span per try, named and attributed as opentelemetry-instrumentation-grpc
names its own, ERROR with the gRPC status when the try fails, ended with the
stream for a server-streaming call; its context replaces the caller's in the
call's metadata, sampled or not.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from gateway.errors import GatewayError
from gateway.observability.tracing import Tracing
from gateway.settings import FallbackSettings, HealthCheckSettings, UpstreamSettings
from gateway.upstream.call import CallContext
from gateway.upstream.client import Upstream
from gateway.upstream.rpc import RpcCatalog
from tests.support.flaky_server import FLAKY_SERVICE, FlakyBackend
from tests.support.ticker_server import TICKER_SERVICE, TickerBackend

FAST_HEALTH = HealthCheckSettings(reconnect_initial_seconds=0.05, reconnect_max_seconds=0.2)
CALLERS_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLERS_PARENT = "00f067aa0ba902b7"
# What the allow-list lets cross from a caller: its trace context, which our span's must replace.
CONTEXT = CallContext(
    metadata=(("x-request-id", "r-1"), ("traceparent", f"00-{CALLERS_TRACE}-{CALLERS_PARENT}-01"),
              ("tracestate", "vendor=1")),
    user_id=None, client_deadline=None, idempotency_key=False,
)


@asynccontextmanager
async def traced(service: str, backend: Any, provider: TracerProvider) -> AsyncIterator[Upstream]:
    upstream = Upstream(
        {service: UpstreamSettings(endpoints=[backend.target], health=FAST_HEALTH)}, FallbackSettings(),
        tracer=Tracing(provider),
    )
    await upstream.start(first_report_timeout=10)
    try:
        yield upstream
    finally:
        await upstream.close()


def recording() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def client_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == SpanKind.CLIENT]


async def test_a_try_is_a_client_span_whose_context_the_service_receives(flaky_catalog: RpcCatalog) -> None:
    provider, exporter = recording()
    async with FlakyBackend("a") as backend, traced(FLAKY_SERVICE, backend, provider) as upstream:
        rpc = flaky_catalog[f"{FLAKY_SERVICE}.Read"]
        reply = await upstream.call(rpc, rpc.request_class(key="k"), CONTEXT)
    assert reply.message.served_by == "a"  # type: ignore[attr-defined]
    (span,) = client_spans(exporter)
    assert span.name == f"/{FLAKY_SERVICE}/Read"
    assert dict(span.attributes or {}) == {
        "rpc.system": "grpc", "rpc.service": FLAKY_SERVICE, "rpc.method": "Read", "rpc.grpc.status_code": 0
    }
    assert span.status.status_code == StatusCode.UNSET
    received = backend.received_metadata[-1]
    version, trace_id, parent, flags = received["traceparent"].split("-")
    ours = (format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"))
    assert (version, (trace_id, parent)) == ("00", ours)
    assert int(flags, 16) & 1  # sampled
    assert received["x-request-id"] == "r-1"
    assert "tracestate" not in received  # the caller's went with its traceparent; this span continues no trace


async def test_a_failed_try_is_an_error_span_with_its_grpc_status(flaky_catalog: RpcCatalog) -> None:
    provider, exporter = recording()
    async with FlakyBackend("a") as backend, traced(FLAKY_SERVICE, backend, provider) as upstream:
        backend.fail_with = grpc.StatusCode.NOT_FOUND
        rpc = flaky_catalog[f"{FLAKY_SERVICE}.Read"]
        with pytest.raises(GatewayError):
            await upstream.call(rpc, rpc.request_class(key="k"), CONTEXT)
    (span,) = client_spans(exporter)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None and span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]


async def test_a_stream_is_one_span_ended_with_the_stream(ticker_catalog: RpcCatalog) -> None:
    provider, exporter = recording()
    async with TickerBackend("a") as backend, traced(TICKER_SERVICE, backend, provider) as upstream:
        rpc = ticker_catalog[f"{TICKER_SERVICE}.Tick"]
        stream = await upstream.open_stream(rpc, rpc.request_class(count=2, then="UNAVAILABLE"), CONTEXT)
        assert client_spans(exporter) == []  # open: its span too
        with pytest.raises(GatewayError):
            async for _ in stream:
                pass
    (span,) = client_spans(exporter)
    assert span.name == f"/{TICKER_SERVICE}/Tick"
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]


async def test_an_unsampled_trace_still_passes_on_its_trace_id(flaky_catalog: RpcCatalog) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    traceparent = f"00-{CALLERS_TRACE}-{CALLERS_PARENT}-01".encode()
    scope = {"method": "GET", "path": "/x", "headers": [(b"traceparent", traceparent)]}
    async with FlakyBackend("a") as backend, traced(FLAKY_SERVICE, backend, provider) as upstream:
        rpc = flaky_catalog[f"{FLAKY_SERVICE}.Read"]
        with tracing.server_span(scope, "GET /x") as request_span:
            await upstream.call(rpc, rpc.request_class(key="k"), CONTEXT)
    assert exporter.get_finished_spans() == ()
    version, trace_id, parent, flags = backend.received_metadata[-1]["traceparent"].split("-")
    assert (version, trace_id) == ("00", CALLERS_TRACE)
    assert not int(flags, 16) & 1  # not sampled
    # The request's own (unrecorded) span is the parent: no span is made per try of a dropped request.
    assert request_span is not None
    assert parent == format(request_span.get_span_context().span_id, "016x") != CALLERS_PARENT
    assert "tracestate" not in backend.received_metadata[-1]
