"""A small HTTP server of a service's own (metrics, the JWKS): a WSGI server on a daemon thread."""
from __future__ import annotations

import asyncio
import threading
from wsgiref.simple_server import WSGIServer


class ThreadedHttpEndpoint:
    """A started `WSGIServer` and the thread serving it; `close` stops both and frees the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_port

    async def close(self) -> None:
        """Stop serving and release the port (waits up to the server's 0.5 s poll interval)."""

        def shut() -> None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

        await asyncio.to_thread(shut)
