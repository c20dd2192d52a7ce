"""Start one of our gRPC services on 127.0.0.1:0 for a test, with a channel to it."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import grpc

from services.common.server import ServiceServer

S = TypeVar("S")


@asynccontextmanager
async def started(
    create_server: Callable[[S], Awaitable[tuple[ServiceServer, int]]], settings: S
) -> AsyncIterator[tuple[ServiceServer, int, grpc.aio.Channel]]:
    """(server, port, channel): the server started, the channel open; both closed on exit."""
    server, port = await create_server(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield server, port, channel
    finally:
        await server.stop(0, drain=0)
