"""The gateway's spans, when the OTEL_* variables turn tracing on (`telemetry.tracing`).

Without a provider no span is made and the W3C `traceparent` of a request is
passed downstream unchanged by the header allow-list, so a caller's trace
still continues in the services.

When on, two plain stages, no gRPC interceptor and no tracing middleware of its own:

- `server_span`: a span per HTTP request, named "METHOD /route/{template}", child of the
  request's `traceparent`; the trace id goes on every log line written while it is current.
  Contract routes open it in the pipeline; the routes FastAPI serves (the home aggregate,
  actuator, docs) in `ObserveMiddleware`, which names it once FastAPI has routed the request
  (`routed`; a request no route served keeps the method alone, a bounded name). Both continue
  the same trace context, so a client's `baggage` reaches no service by either.
- `start` / `end`, the upstream layer's `CallTracer`: a client span per gRPC try of a recorded
  request (an unsampled request's context is passed on as it is, without a span per try), named and
  attributed as `opentelemetry-instrumentation-grpc` names its own ("/package.Service/Method",
  `rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, ERROR status when not OK),
  whose context replaces the caller's in the call's metadata. The instrumentation's grpc.aio
  client interceptor did the same at about 55 us a call, most of it grpc.aio's intercepted-call
  machinery (docs/benchmarks.md); the services keep its server interceptor.

The server span continues only the trace context the header allow-list lets
cross (`headers.trace_context`): what goes into the metadata is then bounded
like the rest, and a client's `baggage` never reaches a service. A sampler that
drops a trace (`OTEL_TRACES_SAMPLER`) still passes its context on, unsampled.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from starlette.types import Scope

from ..transcode.headers import TRACE_CONTEXT, trace_context
from ..upstream.call import Metadata
from ..upstream.rpc import Rpc

_TRACE_CONTEXT_BYTES = frozenset(name.encode() for name in TRACE_CONTEXT)


class Tracing:
    """Spans for one app; every method is free when `provider` is None."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self.enabled = provider is not None
        self._tracer = provider.get_tracer("gateway") if provider is not None else None

    def start(self, rpc: Rpc, metadata: Metadata) -> tuple[Span | None, Metadata]:
        """The client span of one gRPC try, child of the current span, and the metadata carrying it."""
        if self._tracer is None:
            return None, metadata
        kept = tuple(entry for entry in metadata if entry[0] not in TRACE_CONTEXT)  # ours replace the caller's
        current = trace.get_current_span()
        if not current.is_recording() and current.get_span_context().is_valid:
            # A request the sampler dropped: its try would be dropped too (the standard samplers decide a child
            # as its parent, or by the same trace id), so no client span; the request's context goes on, unsampled.
            return None, (*kept, *_injected(None))
        span = self._tracer.start_span(
            rpc.path,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": rpc.service, "rpc.method": rpc.name},
        )
        return span, (*kept, *_injected(trace.set_span_in_context(span)))

    def end(self, span: Span | None, code: grpc.StatusCode, details: str | None = None) -> None:
        if span is None:
            return
        if span.is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code != grpc.StatusCode.OK:
                span.set_status(Status(StatusCode.ERROR, details))
        span.end()

    @contextlib.contextmanager
    def server_span(self, scope: Scope, route: str | None) -> Iterator[Span | None]:
        """The current span of one HTTP request, continuing the caller's W3C trace context.

        `route` is None where the route is known only once the request has been routed (those FastAPI
        serves): the span is then named by the method alone until `routed` names its template."""
        if self._tracer is None:
            yield None
            return
        given = [(name.decode("latin-1"), value.decode("latin-1"))
                 for name, value in scope["headers"] if name in _TRACE_CONTEXT_BYTES]
        carrier = trace_context(given) if given else None
        method = scope["method"]
        # start_span and attach rather than start_as_current_span: the same, without two context managers' cost.
        # No exception is recorded: the error boundary logs it, and the client sees no internals.
        attributes = {"http.request.method": method, "url.path": scope["path"]}
        if route is not None:
            attributes["http.route"] = route
        span = self._tracer.start_span(
            method if route is None else f"{method} {route}",
            context=propagate.extract(carrier) if carrier else None,
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        except BaseException as exc:  # what escapes the stages: sending the answer failed, or cancelled
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            otel_context.detach(token)
            span.end()

    def shutdown(self) -> None:
        """Flush and stop the exporter (the lifespan's last step)."""
        if self.provider is not None:
            self.provider.shutdown()


def _injected(context: otel_context.Context | None) -> list[tuple[str, str]]:
    """The configured propagators' headers of `context` (None: the current one)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return list(carrier.items())


def routed(span: Span | None, method: str, route: str) -> None:
    """Name a span started without its route by the template that served the request."""
    if span is not None and span.is_recording():
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)


def finish_span(span: Span | None, status: int) -> None:
    if span is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(StatusCode.ERROR)
