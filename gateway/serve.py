"""Running the gateway under uvicorn, with a drain on SIGTERM.

Kubernetes sends SIGTERM and, at about the same time, starts taking the pod
out of its Service endpoints; until every load balancer has noticed, new
requests keep arriving. So the first SIGTERM (or SIGINT) does not stop
anything at once:

1. readiness turns DOWN (the lifecycle is `draining`) and responses ask
   clients to close their keep-alive connections;
2. new requests are still served for `drain_seconds`;
3. then uvicorn's own shutdown runs: the listener closes, in-flight requests
   get `shutdown_grace_seconds`, the lifespan closes channels and watchers;
4. the process exits 0.

A second signal ends the drain at once (step 3); a third also abandons the
in-flight requests.
"""
from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from .http_server import server_config
from .lifecycle import Lifecycle
from .settings import HttpSettings

log = logging.getLogger("gateway")


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        lifecycle: Lifecycle,
        drain_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config)
        self._lifecycle = lifecycle
        self._drain_seconds = drain_seconds
        self._clock = clock
        self._signals = 0
        self._drain_until: float | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in getattr(self, "servers", []):  # uvicorn says nothing of sockets it was handed
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                log.info("gateway listening on %s:%d", host, port, extra={"host": host, "port": port})

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: only flags here; the loop's tick does the rest. Unlike uvicorn's own handler,
        # the signal is not re-raised after shutdown, so a drained exit is a clean exit 0.
        self._signals += 1
        if self._signals == 2:
            self.should_exit = True
        elif self._signals > 2:
            self.should_exit = self.force_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._signals and self._drain_until is None:
            self._lifecycle.drain()
            self._drain_until = self._clock() + self._drain_seconds
        if self._drain_until is not None and self._clock() >= self._drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


def run(app: ASGIApp, settings: HttpSettings, lifecycle: Lifecycle, sockets: list[socket.socket] | None = None) -> None:
    """Serve `app` until a signal, drain, then stop as described above; returns when the server is done.

    `sockets`: already bound sockets to listen on (a worker's SO_REUSEPORT socket), else host and port.
    """
    DrainingServer(server_config(app, settings), lifecycle, settings.drain_seconds).run(sockets)
