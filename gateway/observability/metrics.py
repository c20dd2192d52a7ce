"""Prometheus metrics of the gateway (`prometheus-client`), served at /actuator/prometheus.

Label values are bounded by construction: route templates (never raw paths or
ids), methods, statuses, configured services and their current endpoints
(`endpoints_now`), gRPC code names, and fixed reason words. With several
gateway worker processes, set `PROMETHEUS_MULTIPROC_DIR` (the server runner
does) before anything imports prometheus_client: every process then writes its
values to files there and a scrape of any one of them sums them all
(multiprocess mode). Gauges of per-process state (breakers, health) report the
worst value among live processes.

Each app has its own registry, so that several apps in one process (tests)
do not collide. The per-request series are looked up once per label set and
kept (`_children`): prometheus-client's `labels()` takes a lock and converts
every value each time, about 1 us a call, four times a request.
"""
from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.responses import Response

from ..upstream.rpc import Rpc

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # set before prometheus_client is imported (gateway/workers.py)
# From a cache hit on the same host to a slow downstream: milliseconds matter most here.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A stream lasts from a moment to its maximum duration (5 minutes by default).
STREAM_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
HEALTH_STATES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", "UNREACHABLE")


class GatewayMetrics:
    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gateway_http_requests", "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"], registry=registry,
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds", "Time from the request's headers to its response.",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.stream_duration = Histogram(
            "gateway_http_stream_duration_seconds",
            "How long streamed answers lasted, by route template and how they ended (completed, error, client_gone).",
            ["route", "outcome"], buckets=STREAM_BUCKETS, registry=registry,
        )
        self.streams_open = Gauge(
            "gateway_http_streams_open", "Streamed answers in progress, by route template.",
            ["route"], registry=registry, multiprocess_mode="livesum",
        )
        self.upstream_calls = Counter(
            "gateway_upstream_calls", "Tries of upstream gRPC calls, by service, method, endpoint and gRPC code.",
            ["service", "method", "endpoint", "code"], registry=registry,
        )
        self.upstream_latency = Histogram(
            "gateway_upstream_call_duration_seconds", "Duration of one try of an upstream call.",
            ["service", "method"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.retries = Counter(
            "gateway_upstream_retries", "Tries repeated on another endpoint.", ["service", "method"], registry=registry,
        )
        self.breaker_state = Gauge(
            "gateway_circuit_breaker_state", "Circuit breaker of an endpoint: 0 closed, 1 half-open, 2 open.",
            ["service", "endpoint"], registry=registry, multiprocess_mode="livemax",
        )
        self.endpoint_health = Gauge(
            "gateway_upstream_endpoint_health", "1 for the endpoint's current grpc.health.v1 status, else 0.",
            ["service", "endpoint", "status"], registry=registry, multiprocess_mode="livemax",
        )
        self.rate_limited = Counter(
            "gateway_rate_limited", "Requests refused with 429, by route and limit (route or auth_failures).",
            ["route", "limit"], registry=registry,
        )
        self.fallbacks = Counter(
            "gateway_fallbacks", "Answers given by a contract fallback, by route and source (cache or empty).",
            ["route", "source"], registry=registry,
        )
        self.jwt_failures = Counter(
            "gateway_jwt_failures", "Refused bearer tokens, by reason.", ["reason"], registry=registry,
        )
        self.shed = Counter(
            "gateway_http_shed", "Requests answered 503 because a limit of this process was reached, by limit.",
            ["limit"], registry=registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        # Where the endpoint is in a `_children` key of a metric labelled by service and endpoint.
        self._endpoint_label = {self.upstream_calls: 3, self.breaker_state: 2, self.endpoint_health: 2}

    def _child(self, metric: Any, *values: str) -> Any:
        """`metric.labels(*values)`, looked up once (label values are bounded: see the module docstring)."""
        key = (metric, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def answered(self, route: str, method: str, status: int, seconds: float | None) -> None:
        """One HTTP request answered; `seconds` None for a stream (its duration goes to `stream_duration`)."""
        self._child(self.requests, route, method, str(status)).inc()
        if seconds is not None:
            self._child(self.latency, route, method).observe(seconds)

    # The upstream layer's observer (upstream/call.py CallObserver).

    def tried(self, rpc: Rpc, endpoint: str, code: str, seconds: float) -> None:
        self._child(self.upstream_calls, rpc.service, rpc.name, endpoint, code).inc()
        self._child(self.upstream_latency, rpc.service, rpc.name).observe(seconds)

    def stream_ended(self, rpc: Rpc, endpoint: str, code: str) -> None:
        # Counted, but kept out of the per-try latency histogram: a stream lasts as long as it has to.
        self._child(self.upstream_calls, rpc.service, rpc.name, endpoint, code).inc()

    def retried(self, rpc: Rpc) -> None:
        self.retries.labels(rpc.service, rpc.name).inc()

    def shed_request(self, limit: str) -> None:
        """A request answered 503 because `limit` of this process was reached (connections, in_flight_requests)."""
        self.shed.labels(limit).inc()

    def breaker_changed(self, service: str, endpoint: str, state: str) -> None:
        self._child(self.breaker_state, service, endpoint).set(BREAKER_STATES[state])

    def health_changed(self, service: str, endpoint: str, status: str) -> None:
        for known in HEALTH_STATES:
            self._child(self.endpoint_health, service, endpoint, known).set(1 if known == status else 0)

    def endpoints_now(self, service: str, targets: Collection[str]) -> None:
        """Series of the service's other endpoints go (DNS dropped them), so that label values stay bounded.

        prometheus-client cannot delete a series in multiprocess mode (its files keep every value): there a
        gone endpoint's gauges are set to 0 instead (no health status, no breaker open) and its series stay
        until the worker process ends.
        """
        multiprocess = bool(os.environ.get(MULTIPROCESS_DIR))
        live = set(targets)
        for key in list(self._children):
            endpoint = self._endpoint_of(key, service)
            if endpoint is None or endpoint in live:
                continue
            metric = key[0]
            if not multiprocess:
                metric.remove(*key[1:])
            elif metric is self.upstream_calls:
                continue  # kept in the cache: the next try of an endpoint back at this address counts on
            else:
                self._children[key].set(0)
            del self._children[key]

    def _endpoint_of(self, key: tuple[Any, ...], service: str) -> str | None:
        """The endpoint label of a cached series of `service`; None for a series of anything else."""
        at = self._endpoint_label.get(key[0])
        return None if at is None or key[1] != service else str(key[at])

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric (of every worker process in multiprocess mode)."""
        if os.environ.get(MULTIPROCESS_DIR):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def install_metrics(app: FastAPI, metrics: GatewayMetrics) -> None:
    """GET /actuator/prometheus: the Prometheus text format; no token, no rate limit."""

    @app.get("/actuator/prometheus", tags=["actuator"], summary="Prometheus metrics",
             response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)
