"""What every gRPC service here shares: health, reflection, a bound port, graceful stop."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

log = logging.getLogger(__name__)


def bind(server: grpc.aio.Server, host: str, port: int) -> int:
    """Bind an insecure port (0 picks a free one) and return the bound port."""
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    return bound


def add_standard_services(server: grpc.aio.Server, service_names: Iterable[str]) -> HealthServicer:
    """Add grpc.health.v1 (all services NOT_SERVING until `mark_serving`) and server reflection."""
    names = list(service_names)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    return health


async def mark_serving(health: HealthServicer, service_names: Iterable[str]) -> None:
    """Report SERVING for the overall server ("") and each named service."""
    for name in ["", *service_names]:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)


async def graceful_stop(server: grpc.aio.Server, health: HealthServicer, grace: float) -> None:
    """Turn health to NOT_SERVING first (so balancers stop sending), then let in-flight calls finish."""
    await health.enter_graceful_shutdown()
    await server.stop(grace)



class ServiceServer:
    """A grpc.aio server with its health servicer and the resources it owns.

    Duck-types the parts of grpc.aio.Server that callers use (`start`, `stop`,
    `wait_for_termination`), so `create_server(settings) -> (server, port)`
    factories return one of these. `stop` turns health to NOT_SERVING first,
    lets in-flight calls finish within `grace`, then runs the registered
    closers (background workers, HTTP clients, databases) in reverse order.
    """

    def __init__(self, server: grpc.aio.Server, health: HealthServicer, service_names: Iterable[str]) -> None:
        self.grpc_server = server
        self.health = health
        self.service_names = list(service_names)
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._stopped = False

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` after the gRPC server started and before health turns SERVING."""
        self._on_start.append(hook)

    def on_stop(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run `closer` after the gRPC server stopped (reverse order of registration)."""
        self._closers.append(closer)

    async def start(self) -> None:
        await self.grpc_server.start()
        for hook in self._on_start:
            await hook()
        await mark_serving(self.health, self.service_names)

    async def stop(self, grace: float | None = None) -> None:
        if self._stopped:
            return
        self._stopped = True
        await graceful_stop(self.grpc_server, self.health, grace or 0)
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:
                log.exception("error while closing a service resource")

    async def wait_for_termination(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (mirrors grpc.aio)
        return await self.grpc_server.wait_for_termination(timeout)

    async def run_until_signalled(self, grace: float) -> None:
        """Start, serve until SIGINT/SIGTERM, then stop gracefully."""
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping", extra={"grace_seconds": grace})
        await self.stop(grace)
