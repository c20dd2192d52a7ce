"""OpenTelemetry in the services: server spans per RPC, and the trace context handed on to later work.

The process's provider comes from `telemetry.tracing.tracer_provider_from_env` (the OTEL_*
variables); None means tracing is off, and then nothing here adds an interceptor or makes a span.

Server spans: `opentelemetry-instrumentation-grpc`'s aio interceptor continues the caller's W3C
`traceparent` metadata. It leaves out the standard health and reflection services: their calls
are probes and tooling, not requests, and its stream wrapper breaks a streaming handler written
with `context.write` instead of `yield`, as grpc.health.v1's `Watch` is
(open-telemetry/opentelemetry-python-contrib#3066). A streaming RPC of ours must `yield`.

Work done later (the postcard worker) is not a child of the request that queued it: the request
stores `traceparent_to_hand_on()` with the work, and the work's span links to it (`links_to`).
"""
from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT_METADATA = "traceparent"
_W3C = TraceContextTextMapPropagator()


def server_interceptors(provider: TracerProvider | None) -> list[Any]:
    """The server-span interceptor for `grpc.aio.server(interceptors=...)`; none when tracing is off."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    untraced = filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection."))
    return [aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=provider, filter_=filters.negate(untraced))]


def traceparent_to_hand_on(incoming: str | None) -> str | None:
    """The W3C traceparent of the current call, to store with work it queues.

    The current span's when tracing is on (the call's server span); else the caller's `incoming`
    traceparent passed on as is when it is well-formed; else None.
    """
    context = None
    if not trace.get_current_span().get_span_context().is_valid:
        context = _W3C.extract({TRACEPARENT_METADATA: incoming} if incoming else {})
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context)
    return carrier.get(TRACEPARENT_METADATA)


def links_to(traceparent: str | None) -> list[Link]:
    """A span link to the span `traceparent` names; none when it is missing or malformed."""
    if not traceparent:
        return []
    span_context = trace.get_current_span(_W3C.extract({TRACEPARENT_METADATA: traceparent})).get_span_context()
    return [Link(span_context)] if span_context.is_valid else []
