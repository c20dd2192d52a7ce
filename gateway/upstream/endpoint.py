"""One backend endpoint: its long-lived channel, health watcher, circuit breaker and in-flight count."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from ..settings import UpstreamSettings
from .breaker import EndpointBreaker
from .call import CallObserver
from .discovery import split_host_port
from .health import HealthWatcher, Status
from .rpc import Rpc

_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
KEEPALIVE_MS = 30_000
C = TypeVar("C")


def channel_options(settings: UpstreamSettings) -> list[tuple[str, int | str]]:
    health = settings.health
    return [
        # A dead connection is noticed within 40 s (the health Watch keeps a call open). Servers must allow a ping
        # this often (gRPC's default allows one per 5 min with no data; the services allow 10 s).
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
        # gRPC's own reconnect backoff grows to 120 s by default: a restarted endpoint would stay unseen that long.
        ("grpc.initial_reconnect_backoff_ms", int(health.reconnect_initial_seconds * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(health.reconnect_max_seconds * 1000)),
        # Each endpoint is its own channel: gRPC's retries would retry on the same endpoint, ours choose another.
        ("grpc.enable_retries", 0),
    ]


class Endpoint:
    """An address of a service; `eligible` when SERVING and its breaker lets calls through."""

    def __init__(
        self,
        target: str,
        service: str,
        settings: UpstreamSettings,
        *,
        clock: Callable[[], float],
        observer: CallObserver,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.target = target
        self.channel = _channel(target, settings, credentials)
        self.breaker = EndpointBreaker(
            f"{service}@{target}", settings.breaker, clock=clock,
            listeners=[lambda _, old, new: observer.breaker_changed(service, target, new)],
        )
        observer.breaker_changed(service, target, "closed")
        self.health = HealthWatcher(
            target,
            self.channel,
            service if settings.health.service_name is None else settings.health.service_name,
            settings.health,
            lambda status: observer.health_changed(service, target, status),
        )
        self.in_flight = 0
        self._calls: dict[str, grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        self._streams: dict[str, grpc.aio.UnaryStreamMultiCallable[Any, Any]] = {}

    @property
    def status(self) -> Status:
        return self.health.status

    def multicallable(self, rpc: Rpc) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        """The channel's callable for the unary `rpc`, made once."""
        return _made_once(self._calls, self.channel.unary_unary, rpc)

    def stream_multicallable(self, rpc: Rpc) -> grpc.aio.UnaryStreamMultiCallable[Any, Any]:
        """The channel's callable for the server-streaming `rpc`, made once."""
        return _made_once(self._streams, self.channel.unary_stream, rpc)

    def start(self) -> None:
        self.health.start()

    async def close(self, grace: float | None = None) -> None:
        await self.health.close()
        await self.channel.close(grace)


def _channel(target: str, settings: UpstreamSettings, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    """Plaintext without credentials; else TLS, the certificate checked for the service's name."""
    options = channel_options(settings)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options)
    # A DNS-discovered endpoint is an address: its certificate carries the service's name, not the address.
    name = settings.tls_server_name or (split_host_port(settings.dns)[0] if settings.dns else None)
    if name is not None:
        options.append(("grpc.ssl_target_name_override", name))
    return grpc.aio.secure_channel(target, credentials, options=options)


def _made_once(cache: dict[str, C], make: Callable[..., C], rpc: Rpc) -> C:
    call = cache.get(rpc.path)
    if call is None:
        call = cache[rpc.path] = make(
            rpc.path,
            request_serializer=rpc.request_class.SerializeToString,
            response_deserializer=rpc.response_class.FromString,
        )
    return call
