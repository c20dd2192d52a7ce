"""What every gRPC service here shares: health, reflection, a bound port, a drained graceful stop."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.config import ConfigError
from services.common.observability import Observability
from trust.tls import InternalTls, TlsError, TlsFiles

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# The gateway pings its connections every 30 s (its health Watch streams stay open and carry no data).
# gRPC servers by default take a ping within 5 min of the last data as a strike and, at the third,
# close the connection with GOAWAY "too_many_pings": every idle minute and a half the gateway would
# lose its connection and count the endpoint UNREACHABLE until it reconnected. Allow pings this often.
MIN_PING_INTERVAL_MS = 10_000

# Every service passes these options (plus its own) to grpc.aio.server. gRPC sets SO_REUSEPORT by
# default: a second server on a busy port would share it silently instead of failing.
COMMON_SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.so_reuseport", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", MIN_PING_INTERVAL_MS),
]


def internal_tls(settings: InternalTls | None, prefix: str) -> TlsFiles | None:
    """The service's TLS files, read and checked; None for explicit plaintext; ConfigError when neither is set."""
    if settings is None:
        raise ConfigError(
            f"the internal hop is mutual TLS: set {prefix}TLS__CERT_FILE, {prefix}TLS__KEY_FILE and "
            f"{prefix}TLS__CA_FILE (postcard-certs makes throwaway ones), or {prefix}TLS__INSECURE_PLAINTEXT=true "
            "for local development"
        )
    try:
        return settings.load()
    except TlsError as exc:
        raise ConfigError(f"{prefix}TLS__*: {exc}") from None


def bind(server: grpc.aio.Server, host: str, port: int, tls: TlsFiles | None) -> int:
    """Bind a port (0 picks a free one) and return it; OSError naming the address if it is taken.

    With `tls`, the port is mutual TLS: a client must present a certificate of the internal CA.
    """
    address = f"{host}:{port}"
    try:
        bound = (server.add_secure_port(address, tls.server_credentials()) if tls is not None
                 else server.add_insecure_port(address))
    except RuntimeError as exc:  # what grpc raises for an address in use
        raise OSError(f"could not listen on {host}:{port} (address in use or not available)") from exc
    if bound == 0:
        raise OSError(f"could not listen on {host}:{port} (address in use or not available)")
    return bound


class HealthServicer(health.aio.HealthServicer):  # type: ignore[name-defined,misc]  # public, but untyped
    """The stock grpc.health.v1 servicer, whose Watch streams end when `close_watches` is called.

    A client watching health (the gateway) keeps its stream open for as long as the server lives;
    left open, it would hold `server.stop(grace)` for the whole grace period. Ending the streams when
    the drain is over lets a stop finish as soon as the real calls have; the watchers then see the
    stream end, i.e. the server going away.
    """

    def __init__(self) -> None:
        super().__init__()
        self._closing = asyncio.Event()

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        watch = asyncio.ensure_future(super().Watch(request, context))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({watch, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watch, closing):
                task.cancel()
            await asyncio.gather(watch, closing, return_exceptions=True)

    def close_watches(self) -> None:
        self._closing.set()


def add_standard_services(server: grpc.aio.Server, service_names: Iterable[str]) -> HealthServicer:
    """Add grpc.health.v1 and server reflection (for grpcurl) to `server`; return the health servicer."""
    names = list(service_names)
    servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    return servicer


class ServiceServer:
    """A grpc.aio server with its health servicer and the resources it owns.

    Duck-types the parts of grpc.aio.Server that callers use (`start`, `stop`,
    `wait_for_termination`), so `create_server(settings) -> (server, port)`
    factories return one of these.

    Health: NOT_SERVING until `start` has run its hooks, then SERVING for the
    overall server ("") and each named service. Stopping turns all of them
    NOT_SERVING first and keeps serving normally for `drain_seconds`, so that
    clients watching health (the gateway) move their traffic away before the
    port closes; then the `on_drain_end` hooks end long-lived streams, in-flight calls get `grace`
    seconds, then the registered
    closers (embedded workers, HTTP clients) run in reverse order, then the
    `observability` closes (metrics port, span flush), last so that the
    closers' own spans and metrics are still recorded.
    """

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: HealthServicer,
        service_names: Iterable[str],
        *,
        drain_seconds: float = 0.0,
        observability: Observability | None = None,
    ) -> None:
        self.grpc_server = server
        self.health = health_servicer
        self.service_names = list(service_names)
        self.drain_seconds = drain_seconds
        self.observability = observability or Observability()
        self.http_ports: dict[str, int] = {}  # other ports it serves (the user-service's JWKS), by name
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_drain_end: list[Callable[[], Awaitable[None]]] = []
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._drain_over = asyncio.Event()
        self._stopped = False
        self._health_server: grpc.aio.Server | None = None
        self.health_port: int | None = None

    async def serve_health_port(self, host: str, port: int | None, variable: str) -> None:
        """Also serve grpc.health.v1 alone, in plaintext, on host:port (0: any free port; None: not at all).

        For probes that cannot present a client certificate (Kubernetes' gRPC probes): the same
        statuses as the main port, nothing else is served there. When the port cannot be bound,
        everything this server owns is closed and OSError names `variable`.
        """
        if port is None:
            return
        server = grpc.aio.server(options=COMMON_SERVER_OPTIONS)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        try:
            self.health_port = bind(server, host, port, None)
        except OSError as exc:
            await self.stop(0, drain=0)
            raise OSError(f"{exc}; set {variable}") from None
        self._health_server = server

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` after the gRPC server started and before health turns SERVING."""
        self._on_start.append(hook)

    def on_drain_end(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` when the drain is over, before the gRPC server stops: end streams of ours (watches) that would
        otherwise hold the stop for its whole grace, as `close_watches` does for health."""
        self._on_drain_end.append(hook)

    def on_stop(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run `closer` after the gRPC server stopped (reverse order of registration)."""
        self._closers.append(closer)

    async def start(self) -> None:
        # The stock servicer reports "" as SERVING from birth; nothing is ready before the hooks ran.
        await self._set_health(NOT_SERVING)
        await self.grpc_server.start()
        if self._health_server is not None:
            await self._health_server.start()
        for hook in self._on_start:
            await hook()
        await self._set_health(SERVING)

    async def stop(self, grace: float | None = None, *, drain: float | None = None) -> None:
        """NOT_SERVING, serve on for `drain` seconds, stop within `grace`, close owned resources.

        `drain` defaults to `drain_seconds`; tests pass 0. `skip_drain` ends the drain early. A
        second call returns at once (the first one does the work).
        """
        if self._stopped:
            return
        self._stopped = True
        await self.health.enter_graceful_shutdown()  # every service NOT_SERVING; Watch streams hear it now
        drain = self.drain_seconds if drain is None else drain
        if drain > 0:
            log.info("draining: health is NOT_SERVING, still serving calls", extra={"drain_seconds": drain})
            try:
                await asyncio.wait_for(self._drain_over.wait(), timeout=drain)
            except TimeoutError:
                pass
        self.health.close_watches()  # else an open Watch stream holds stop() for the whole grace
        for hook in self._on_drain_end:
            try:
                await hook()
            except Exception:
                log.exception("error while ending streams at the end of the drain")
        await self.grpc_server.stop(grace or 0)
        if self._health_server is not None:
            await self._health_server.stop(None)
        for closer in [*reversed(self._closers), self.observability.close]:
            try:
                await closer()
            except Exception:
                log.exception("error while closing a service resource")

    @property
    def metrics_port(self) -> int | None:
        """The port serving this server's Prometheus metrics; None when they are not served."""
        return self.observability.metrics_port

    def skip_drain(self) -> None:
        """End a drain in progress now (a second SIGINT/SIGTERM does this)."""
        self._drain_over.set()

    async def wait_for_termination(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (mirrors grpc.aio)
        return await self.grpc_server.wait_for_termination(timeout)

    async def run_until_signalled(self, grace: float) -> None:
        """Start, serve until SIGINT/SIGTERM, then stop gracefully; a second signal skips the drain."""
        await self.start()
        stop = asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():
                self.skip_drain()
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await stop.wait()
        log.info("stopping", extra={"grace_seconds": grace, "drain_seconds": self.drain_seconds})
        await self.stop(grace)

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        for name in [health.OVERALL_HEALTH, *self.service_names]:
            await self.health.set(name, status)
