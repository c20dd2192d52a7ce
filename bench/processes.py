"""The benchmark's child processes: started pinned to a core, bounded in time, stopped by PID.

Every process is a direct child, started with `taskset -c CORE` when taskset
exists (the PID stays the program's: taskset execs it), in a session of its own
so that a Ctrl-C in the terminal reaches only the benchmark, which then stops
them in order. Each child also gets SIGTERM from the kernel if the benchmark
itself dies without cleaning up (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1
_LISTENING = re.compile(r"(?:running|listening) on (?:https?://)?127\.0\.0\.1:(\d+)")


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Pinning:
    """Which cores the load generator and the servers run on, or why nothing is pinned."""

    def __init__(self) -> None:
        cores = sorted(os.sched_getaffinity(0))
        self.taskset = shutil.which("taskset")
        if self.taskset and len(cores) >= 2:
            self.load_cpus: set[int] | None = {cores[0]}
            self.server_cpus: set[int] | None = {cores[1]}
            self.note = f"load generator and stub backend on core {cores[0]}, server measured on core {cores[1]}"
        else:
            self.load_cpus = self.server_cpus = None
            why = "taskset (util-linux) not found" if not self.taskset else f"only {len(cores)} core(s) available"
            self.note = f"NOT pinned: {why}; load and server share the cores"

    def prefix(self, cpus: set[int] | None) -> list[str]:
        if cpus is None or not self.taskset:
            return []
        return [self.taskset, "-c", ",".join(map(str, sorted(cpus)))]


class Server:
    """A server child whose port is read from its log: "running on"/"listening on 127.0.0.1:PORT", or our
    services' JSON line `{"message": "<name> listening", "port": PORT, ...}`."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self.port = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            text = self.log_path.read_text(errors="replace")
            found = _LISTENING.search(text)
            if found:
                self.port = int(found.group(1))
                return
            port = self.logged_value("listening", "port")
            if port is not None:
                self.port = port
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not report its port within {timeout} s:\n{self.tail()}")

    def logged_value(self, message_part: str, field: str) -> int | None:
        """`field` (an int) of the first JSON log line whose message contains `message_part`."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line) if line.startswith("{") else {}
            except ValueError:  # a line being written
                continue
            if (isinstance(record, dict) and message_part in str(record.get("message", ""))
                    and isinstance(record.get(field), int)):
                return int(record[field])
        return None

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Children:
    """Every process the benchmark starts; `stop_all` ends those still running, by PID."""

    def __init__(self, log_dir: Path, pinning: Pinning) -> None:
        self.log_dir = log_dir
        self.pinning = pinning
        self.started: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.started]

    def _popen(self, argv: list[str], cpus: set[int] | None, env: dict[str, str] | None, **kwargs: object) -> (
        subprocess.Popen[bytes]
    ):
        process = subprocess.Popen(
            [*self.pinning.prefix(cpus), *argv],
            cwd=ROOT,
            env=env,  # None: this process's environment
            start_new_session=True,
            preexec_fn=_die_with_parent,  # safe: the benchmark starts processes from one thread only
            **kwargs,  # type: ignore[arg-type]
        )
        self.started.append(process)
        return process

    def start_server(self, name: str, module_args: list[str], *, cpus: set[int] | None,
                     env: dict[str, str] | None = None) -> Server:
        """`python -m <module_args>` (with `env`, else this environment), its output in `<log_dir>/<name>.log`;
        call `wait_listening` next."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = self._popen([sys.executable, "-m", *module_args], cpus, env,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return Server(name, process, log_path)

    def run(self, argv: list[str], *, cpus: set[int] | None, timeout: float, env: dict[str, str] | None = None) -> str:
        """Run a bounded command (wrk, the direct client) and return its stdout; killed after `timeout` s."""
        process = self._popen(argv, cpus, env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError(f"{argv[0]} did not finish within {timeout} s") from None
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {process.returncode}: {err.decode(errors='replace')}")
        return out.decode()

    def stop(self, process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """Stop one child: SIGTERM, then SIGKILL if it has not exited within `grace` s."""
        _terminate([process], grace)

    def stop_all(self, grace: float = 10.0) -> None:
        """Stop every child still running, all at once."""
        _terminate(self.started, grace)


def _terminate(processes: list[subprocess.Popen[bytes]], grace: float) -> None:
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
