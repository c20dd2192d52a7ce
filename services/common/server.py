"""What every gRPC service here shares: health, reflection, a bound port, graceful stop."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable

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


async def run_until_signalled(server: grpc.aio.Server, health: HealthServicer, grace: float) -> None:
    """Wait for SIGINT or SIGTERM, then stop gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping", extra={"grace_seconds": grace})
    await graceful_stop(server, health, grace)
