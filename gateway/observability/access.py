"""One access line and the request metrics per HTTP request, from what the stages noted on the way.

The pipeline fills an `Exchange` as its stages run (who the caller was, which
endpoint answered with which gRPC code, whether a fallback answered), then
`observe` writes the metrics and one JSON line on the "gateway.access" logger:

    {"message": "access", "method": "GET", "route": "/api/v1/postcards/{postcard_id}", "status": 200,
     "duration_ms": 1.9, "request_id": "...", "trace_id": "...", "user_id": "...",
     "upstream": "10.0.3.7:50052", "grpc_code": "OK", "fallback": null}

A stream (a server-streaming route) has its line when it ends, with the
framing (`stream`: `sse` or `ndjson`), the events sent (`messages`) and how it
ended (`stream_end`: `completed`, `error`, `client_gone`); its duration goes to
the stream histogram, not the request-latency one, which it would distort.

The lines go out through `telemetry.logs.BatchedLines`: the same JSON line,
written once per event-loop turn for all the requests that ended in it, not
once per request through `logging`'s record, filter and handler (about 40 us
of CPU a request under load, docs/benchmarks.md).

The route is the template, never the raw path (bounded metric labels, no ids
in the log's route field). Health probes and scrapes log at DEBUG, so they do
not drown the access log. `ObserveMiddleware` does the same for the routes
FastAPI serves (docs, OpenAPI, actuator, hand-written handlers); a hand-written
handler notes the caller it authenticated in `noted_exchange(scope)`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry.logs import BatchedLines

from .metrics import GatewayMetrics
from .tracing import Tracing, finish_span, routed

access_log = logging.getLogger("gateway.access")
access_lines = BatchedLines(access_log)  # one line per request: written in batches (telemetry/logs.py)
UNMATCHED = "unmatched"
_EXCHANGE = "gateway.exchange"  # the scope key of the Exchange ObserveMiddleware fills
_QUIET_PREFIX = "/actuator/"


@dataclass(slots=True)
class Exchange:
    method: str
    route: str  # the route template, or UNMATCHED
    status: int = 0
    user_id: str | None = None
    endpoint: str | None = None
    grpc_code: str | None = None
    fallback: str | None = None
    stream: str | None = None  # the framing of a streamed answer
    messages: int = 0  # events a stream sent
    stream_end: str | None = None  # how a stream ended


def observe(metrics: GatewayMetrics, exchange: Exchange, seconds: float) -> None:
    route, method = exchange.route, exchange.method
    if exchange.stream is None:
        metrics.answered(route, method, exchange.status, seconds)
    else:
        metrics.answered(route, method, exchange.status, None)
        metrics.stream_duration.labels(route, exchange.stream_end or "").observe(seconds)
    if exchange.fallback is not None:
        metrics.fallbacks.labels(route, exchange.fallback).inc()
    level = logging.DEBUG if route.startswith(_QUIET_PREFIX) else logging.INFO
    if access_log.isEnabledFor(level):
        line = {
            "method": method,
            "route": route,
            "status": exchange.status,
            "duration_ms": round(seconds * 1000, 3),
            "user_id": exchange.user_id,
            "upstream": exchange.endpoint,
            "grpc_code": exchange.grpc_code,
            "fallback": exchange.fallback,
        }
        if exchange.stream is not None:
            line.update(stream=exchange.stream, messages=exchange.messages, stream_end=exchange.stream_end)
        access_lines.log(level, "access", line)


def noted_exchange(scope: Scope) -> Exchange | None:
    """The Exchange of a request FastAPI answers: a hand-written handler notes in it what it learns (the caller)."""
    return scope.get(_EXCHANGE)


class ObserveMiddleware:
    """Server span, access line and metrics for requests FastAPI answers; the route template comes from its router.

    The span is the pipeline's own (`Tracing.server_span`), not an instrumentation middleware's: the same
    name, attributes and trace-context rule on both paths, for a fraction of the cost."""

    def __init__(self, app: ASGIApp, *, metrics: GatewayMetrics, tracing: Tracing) -> None:
        self.app = app
        self.metrics = metrics
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = Exchange(scope["method"], UNMATCHED)
        scope[_EXCHANGE] = exchange

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
            await send(message)

        with self.tracing.server_span(scope, None) as span:
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                route = scope.get("route")
                exchange.route = getattr(route, "path", UNMATCHED)
                if route is not None:
                    routed(span, exchange.method, exchange.route)
                if exchange.status:  # else nothing was answered: the span says why, if anything raised
                    finish_span(span, exchange.status)
                observe(self.metrics, exchange, time.perf_counter() - started)  # in the span: its trace id
