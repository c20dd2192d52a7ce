"""The gateway's spans, when the OTEL_* variables turn tracing on (`telemetry.tracing`).

Without a provider no span is made, no interceptor is added, and the W3C
`traceparent` of a request is passed downstream unchanged by the header
allow-list, so a caller's trace still continues in the services.

When on: a server span per HTTP request (a stage of the pipeline, named
"METHOD /route/{template}", child of the request's `traceparent`), a client
span per gRPC try (`opentelemetry-instrumentation-grpc`'s aio interceptors,
which put the new `traceparent` in the call's metadata), and the trace id on
every log line written while the span is current. The span continues only the
trace context the header allow-list lets cross (`headers.trace_context`): what
the interceptor writes into the metadata is then bounded like the rest, and a
client's `baggage` never reaches a service.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, StatusCode
from starlette.types import Scope

from ..transcode.headers import trace_context


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

        return list(aio_client_interceptors(tracer_provider=self.provider))  # type: ignore[no-untyped-call]

    @contextlib.contextmanager
    def server_span(self, scope: Scope, route: str) -> Iterator[Span | None]:
        """The current span of one HTTP request, continuing the caller's W3C trace context."""
        if self._tracer is None:
            yield None
            return
        carrier = trace_context((name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"])
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
