"""Run an ASGI app under a real uvicorn server on 127.0.0.1 (ephemeral port) inside the test's loop."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from gateway.http_server import server_config
from gateway.settings import HttpSettings


@asynccontextmanager
async def serve(app: ASGIApp, settings: HttpSettings | None = None) -> AsyncIterator[str]:
    """Yield the base URL of `app` served over real HTTP; stop the server (lifespan included) on exit.

    The server is built as in production (`gateway.http_server.server_config`: the gateway's
    protocol class, timeouts and limits from `settings`), in the test's own event loop.
    """
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose protocol says TCP, and
    # without it every response waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, settings or HttpSettings(), loop="none"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # start-up failed: raise its error
                    raise RuntimeError("server stopped during start-up")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
