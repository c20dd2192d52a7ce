"""OpenTelemetry in the services: server spans per RPC, from the process's tracer provider.

The process's provider comes from `telemetry.tracing.tracer_provider_from_env` (the OTEL_*
variables); None means tracing is off, and then nothing here adds an interceptor or makes a span.

Server spans: `opentelemetry-instrumentation-grpc`'s aio interceptor continues the caller's W3C
`traceparent` metadata. It leaves out the standard health and reflection services: their calls
are probes and tooling, not requests, and its stream wrapper breaks a streaming handler written
with `context.write` instead of `yield`, as grpc.health.v1's `Watch` is
(open-telemetry/opentelemetry-python-contrib#3066). A streaming RPC of ours must `yield`.
"""
from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider


def server_interceptors(provider: TracerProvider | None) -> list[Any]:
    """The server-span interceptor for `grpc.aio.server(interceptors=...)`; none when tracing is off."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    untraced = filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection."))
    return [aio_server_interceptor(tracer_provider=provider, filter_=filters.negate(untraced))]
