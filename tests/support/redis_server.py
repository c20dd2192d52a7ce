"""A real redis-server for a test: its own process, a unix socket in a temporary folder, no persistence.

`stop()` then `start()` again is a restart on the same socket (with an empty database).

`.ci/run` installs Debian's redis-server; a machine without it fails these tests with a message saying
so, rather than skipping them.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.socket = folder / "redis.sock"
        self._folder = folder
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """For the rate limiter (limits' async storage over redis.asyncio)."""
        return f"async+redis+unix://{self.socket}"

    @property
    def url(self) -> str:
        """For redis-py (the postcard queue's Redis backend)."""
        return f"unix://{self.socket}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server (.ci/run does)")
        self._process = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(self.socket), "--save", "", "--appendonly", "no",
             "--dir", str(self._folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start (exit {self._process.poll()})")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(10)
        self._process = None

    def _answers(self) -> bool:
        import socket

        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(1)
                client.connect(str(self.socket))
                client.sendall(b"PING\r\n")
                return client.recv(16).startswith(b"+PONG")
        except OSError:
            return False
