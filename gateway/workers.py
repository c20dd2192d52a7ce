"""`python -m gateway --workers N`: N gateway processes on one port, one per core.

The supervisor (this module) starts N ordinary gateway processes that each bind
the same address with SO_REUSEPORT: the kernel spreads new connections across
them. It reserves the port first with a socket that never listens (so `--port 0`
works, and the port stays taken while workers restart), and gives every worker
the same `PROMETHEUS_MULTIPROC_DIR` (a fresh folder unless one is set), so that
a scrape of any worker counts them all.

SIGTERM and SIGINT are passed on to every worker, which drains as a single
gateway does (readiness DOWN, still serving for the drain time, then in-flight
requests finish); a second signal is passed on too and ends the drain. A
worker that dies on its own is restarted (its metric values are marked dead);
more than `MAX_RESTARTS` within `RESTART_WINDOW_SECONDS` stops everything with
exit 1. The supervisor exits 0 when every worker stopped cleanly.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from types import FrameType

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client in every worker

log = logging.getLogger("gateway.workers")

MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, as every worker binds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class Supervisor:
    def __init__(self, workers: int, host: str, port: int) -> None:
        self.workers = workers
        self.reservation = reuse_port_socket(host, port)  # never listens: holds the port for the workers
        self.host, self.port = host, self.reservation.getsockname()[1]
        given = os.environ.get(MULTIPROCESS_DIR)
        self.metrics_dir = given or tempfile.mkdtemp(prefix="gateway-metrics-")
        self._own_metrics_dir = given is None
        if given:  # values of an earlier run would be summed with ours
            for entry in os.listdir(given):
                os.remove(os.path.join(given, entry))
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self._restarts: deque[float] = deque()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._forward)
        log.info("gateway workers starting", extra={"workers": self.workers, "port": self.port})
        for _ in range(self.workers):
            self._spawn()
        failed = False
        while self.children:
            pid, status = os.wait()  # a signal runs _forward, then the wait goes on (PEP 475)
            child = self.children.pop(pid, None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            _mark_dead(pid, self.metrics_dir)
            if self.stopping:
                failed |= code != 0
            elif self._may_restart():
                log.error("gateway worker exited; restarting it", extra={"pid": pid, "exit_code": code})
                self._spawn()
            else:
                log.error("gateway workers keep dying; stopping", extra={"pid": pid, "exit_code": code})
                failed = True
                self._forward(signal.SIGTERM, None)
        self.reservation.close()
        if self._own_metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return 1 if failed else 0

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "gateway", "--worker", "--host", self.host, "--port", str(self.port)]
        child = subprocess.Popen(command, env={**os.environ, MULTIPROCESS_DIR: self.metrics_dir})
        self.children[child.pid] = child

    def _forward(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True
        for child in list(self.children.values()):
            if child.poll() is None:
                child.send_signal(sig)

    def _may_restart(self) -> bool:
        now = time.monotonic()
        while self._restarts and self._restarts[0] < now - RESTART_WINDOW_SECONDS:
            self._restarts.popleft()
        self._restarts.append(now)
        return len(self._restarts) <= MAX_RESTARTS


def _mark_dead(pid: int, metrics_dir: str) -> None:
    """A gone worker's live gauges (breakers, health) no longer count in "livemax"."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]
