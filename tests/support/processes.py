"""Our programs as real child processes of a test: started with `python -m`, logs collected, stopped by PID.

The tests that send SIGKILL, SIGSTOP or SIGTERM need a process of their own.
Each child's stderr (JSON log lines) goes to a file the test can read; the
bound port is taken from the child's "listening"/"running on" line, so every
child binds port 0.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from .waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
_UVICORN_PORT = re.compile(r"running on https?://[^:]+:(\d+)")


class Child:
    """`python -m <args>` from this checkout; or, with `command`, that program (an installed entry point)."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log_dir: Path,
        *, command: list[str] | None = None, cwd: Path = REPO,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.port = 0
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command or [sys.executable, "-m", *args],
                cwd=cwd,
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (anything else is skipped)."""
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def logged(self, text: str, **fields: Any) -> list[dict[str, Any]]:
        return [r for r in self.lines() if text in str(r.get("message", ""))
                and all(r.get(k) == v for k, v in fields.items())]

    async def wait_listening(self, timeout: float = 30) -> int:  # noqa: ASYNC109
        def bound() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            for record in self.lines():
                message = str(record.get("message", ""))
                if "listening" in message and isinstance(record.get("port"), int):
                    self.port = record["port"]
                    return True
                found = _UVICORN_PORT.search(message)
                if found:
                    self.port = int(found.group(1))
                    return True
            return False

        await wait_until(bound, timeout, f"{self.name} listening")
        return self.port

    def send(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    async def wait_exit(self, timeout: float = 30) -> int:  # noqa: ASYNC109
        await wait_until(lambda: self.process.poll() is not None, timeout, f"{self.name} exits")
        return self.process.returncode

    async def stop(self) -> None:
        """SIGCONT (in case it was stopped), SIGTERM, and SIGKILL if it does not exit within 20 s."""
        if self.process.poll() is not None:
            return
        self.send(signal.SIGCONT)
        self.send(signal.SIGTERM)
        try:
            await self.wait_exit(20)
        except AssertionError:
            self.send(signal.SIGKILL)
            await asyncio.to_thread(self.process.wait, 10)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
