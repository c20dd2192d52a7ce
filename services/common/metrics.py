"""Prometheus metrics of a service or worker process: the RPC series, and the small HTTP port serving them.

Each process (each `create_server`, in tests several per process) has its own `CollectorRegistry`,
so that servers built side by side never share series. The port is off unless its setting is set;
0 picks a free one (the bound port is logged). Label values are bounded: gRPC service and method
names of the handlers the server registered, call types and gRPC code names, never ids.
"""
from __future__ import annotations

import asyncio
import logging

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from services.common.http_endpoint import ThreadedHttpEndpoint

log = logging.getLogger(__name__)

# From a cached read to a slow generation-free write under lock contention.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RpcMetrics:
    """RPCs handled by a gRPC server, named as go-grpc-prometheus names them (dashboards for it work)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.handled = Counter(
            "grpc_server_handled", "RPCs completed on the server, by service, method, call type and gRPC code.",
            ["grpc_service", "grpc_method", "grpc_type", "grpc_code"], registry=registry,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds",
            "Time from a call's start to its end (for streams: the stream's whole life).",
            ["grpc_service", "grpc_method", "grpc_type"], buckets=LATENCY_BUCKETS, registry=registry,
        )

    def observe(self, service: str, method: str, call_type: str, code: grpc.StatusCode, seconds: float) -> None:
        self.handled.labels(service, method, call_type, code.name).inc()
        self.latency.labels(service, method, call_type).observe(seconds)


class MetricsEndpoint(ThreadedHttpEndpoint):
    """`prometheus_client`'s HTTP server (a daemon thread) serving one registry at /metrics."""

    @classmethod
    async def start(cls, registry: CollectorRegistry, host: str, port: int, variable: str) -> MetricsEndpoint:
        """Listen on `host:port` (0: a free port); OSError naming the address and `variable` if it is taken."""
        try:
            server, thread = await asyncio.to_thread(start_http_server, port, host, registry)
        except OSError as exc:
            raise OSError(
                f"could not serve metrics on {host}:{port} (address in use or not available; set {variable})"
            ) from exc
        endpoint = cls(server, thread)
        log.info("serving metrics", extra={"host": host, "metrics_port": endpoint.port})
        return endpoint
