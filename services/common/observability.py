"""What one service or worker process observes itself with: a metrics registry and its port, a tracer
provider (or none), and the interceptors of its gRPC server.

Built by the server factory (`create_server(settings, tracer_provider=...)`) or by a worker process;
`close()` releases the metrics port and flushes the spans not exported yet.
"""
from __future__ import annotations

import asyncio
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from services.common.interceptors import ObserveCalls
from services.common.metrics import MetricsEndpoint, RpcMetrics
from services.common.tracing import server_interceptors


class Observability:
    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.registry = CollectorRegistry()
        self.tracer_provider = tracer_provider
        self._rpc_metrics = RpcMetrics(self.registry)
        self._endpoint: MetricsEndpoint | None = None
        self._closed = False

    def server_interceptors(self) -> list[Any]:
        """Server spans first (the call's log line then carries their trace id), then `ObserveCalls`."""
        return [*server_interceptors(self.tracer_provider), ObserveCalls(self._rpc_metrics)]

    async def serve_metrics(self, host: str, port: int | None, variable: str) -> None:
        """Serve the registry on `host:port` (0: any free port); nothing when `port` is None (the default)."""
        if port is not None:
            self._endpoint = await MetricsEndpoint.start(self.registry, host, port, variable)

    @property
    def metrics_port(self) -> int | None:
        """The bound metrics port, or None when metrics are not served."""
        return self._endpoint.port if self._endpoint is not None else None

    async def close(self) -> None:
        """Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._endpoint is not None:
            await self._endpoint.close()
        if self.tracer_provider is not None:
            # Flushes the batch exporter: a blocking network call, so not on the event loop.
            await asyncio.to_thread(self.tracer_provider.shutdown)
