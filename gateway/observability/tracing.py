"""OpenTelemetry tracing, configured only by the standard OTEL_* variables.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set,
and `OTEL_SDK_DISABLED` not true, spans are exported over OTLP/gRPC by a
batching SDK provider (service name from `OTEL_SERVICE_NAME`, sampling from
`OTEL_TRACES_SAMPLER`, and the rest of the SDK's variables). Otherwise there is
no provider: no span is made, no interceptor is added, and the W3C
`traceparent` of a request is passed downstream unchanged by the header
allow-list, so a caller's trace still continues in the services.

When on: a server span per HTTP request (a stage of the pipeline, named
"METHOD /route/{template}", child of the request's `traceparent`), a client
span per gRPC try (`opentelemetry-instrumentation-grpc`'s aio interceptors,
which put the new `traceparent` in the call's metadata), and the trace id on
every log line written while the span is current.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, StatusCode
from starlette.types import Scope

_PROPAGATED = (b"traceparent", b"tracestate", b"baggage")


def tracer_provider_from_env(default_service_name: str) -> TracerProvider | None:
    """An SDK provider exporting over OTLP when the environment asks for it, else None (tracing off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; ours is only the default.
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", default_service_name)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class Tracing:
    """Spans for one app; every method is free when `provider` is None."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self.enabled = provider is not None
        self._tracer = provider.get_tracer("gateway") if provider is not None else None

    def grpc_interceptors(self) -> list[Any]:
        """Client interceptors for the upstream channels (none when tracing is off)."""
        if self.provider is None:
            return []
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        return list(aio_client_interceptors(tracer_provider=self.provider))

    @contextlib.contextmanager
    def server_span(self, scope: Scope, route: str) -> Iterator[Span | None]:
        """The current span of one HTTP request, continuing the caller's W3C trace context."""
        if self._tracer is None:
            yield None
            return
        carrier = {name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in _PROPAGATED}
        method = scope["method"]
        with self._tracer.start_as_current_span(
            f"{method} {route}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route, "url.path": scope["path"]},
            record_exception=False,  # the error boundary logs it, and the client sees no internals
        ) as span:
            yield span

    def shutdown(self) -> None:
        """Flush and stop the exporter (the lifespan's last step)."""
        if self.provider is not None:
            self.provider.shutdown()


def finish_span(span: Span | None, status: int) -> None:
    if span is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(StatusCode.ERROR)


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), for log lines; None outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
