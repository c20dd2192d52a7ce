"""Start one of our gRPC services on 127.0.0.1:0 for a test, with a channel to it.

The channel is mutual TLS as the "developer" identity of the service's own test PKI (tests.support.pki,
as grpcurl would use it), or plaintext for a service started with TLS__INSECURE_PLAINTEXT.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import grpc

from services.common.server import ServiceServer
from tests.support.pki import tls_files

S = TypeVar("S")


def client_channel(settings: Any, port: int) -> grpc.aio.Channel:
    """A channel to a service started with `settings`: as the developer of its PKI, or plaintext."""
    target = f"127.0.0.1:{port}"
    tls = settings.tls
    if tls is None or tls.insecure_plaintext:
        return grpc.aio.insecure_channel(target)
    pki = tls.ca_file.parent.parent  # <pki>/<service>/ca.crt
    return grpc.aio.secure_channel(target, tls_files(pki, "developer").channel_credentials())


@asynccontextmanager
async def started(
    create_server: Callable[[S], Awaitable[tuple[ServiceServer, int]]], settings: S
) -> AsyncIterator[tuple[ServiceServer, int, grpc.aio.Channel]]:
    """(server, port, channel): the server started, the channel open; both closed on exit."""
    server, port = await create_server(settings)
    await server.start()
    try:
        async with client_channel(settings, port) as channel:
            yield server, port, channel
    finally:
        await server.stop(0, drain=0)
