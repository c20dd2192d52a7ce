"""scripts/dev as a developer meets it: a busy port stops it at once with one clear line; a
service that dies during start-up is reported, never followed by "gateway ready"; otherwise it
serves, SIGTERM stops everything it started, and a program that stops on its own later is named
and the rest stopped.

Each run is a real ``scripts/dev`` in a new session (its process group id is its own PID), with
ports and state of this test only and its output in a file. Runs are bounded in time; a
leftover process of that group, which only this test started, is killed by the group id.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV = REPO / "scripts" / "dev"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def held_port() -> Iterator[int]:
    """A port this test listens on (another program, as far as scripts/dev can tell)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
def ports() -> dict[str, int]:
    return {"user": free_port(), "postcard": free_port(), "gateway": free_port()}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Run:
    """A running scripts/dev and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def finish(self, within: float = 120) -> tuple[int, list[str]]:
        """The exit code and every output line, once scripts/dev has exited (bounded)."""
        return self.process.wait(timeout=within), self.lines()

    def wait_for_line(self, marker: str, within: float = 120) -> None:
        """Return once a line holds `marker`; fail if scripts/dev exits or `within` runs out first."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if any(marker in line for line in self.lines()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {marker!r} from scripts/dev:\n" + "\n".join(self.lines()))


@contextmanager
def dev(tmp_path: Path, ports: dict[str, int], **variables: str) -> Iterator[Run]:
    """``scripts/dev --port <gateway port>`` with this test's ports and state; its group cleaned up after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USER_SERVICE_", "POSTCARD_SERVICE_", "GATEWAY_"))}
    env.update(
        USER_SERVICE_PORT=str(ports["user"]),
        POSTCARD_SERVICE_PORT=str(ports["postcard"]),
        USER_SERVICE_STATE_DIR=str(tmp_path / "user-service"),
        POSTCARD_SERVICE_DB_PATH=str(tmp_path / "postcard-service" / "postcards.sqlite3"),
        **variables,
    )
    log_path = tmp_path / "dev.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(DEV), "--port", str(ports["gateway"])],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Run(process, log_path)
    except BaseException as failure:  # whatever went wrong, scripts/dev's own account of it
        failure.add_note("scripts/dev output:\n" + log_path.read_text())
        raise
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if group_alive(process.pid):  # a child scripts/dev failed to stop: ours, end it
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("busy", "name", "how_to_move"),
    [
        ("user", "user-service", "USER_SERVICE_PORT=<port>"),
        ("postcard", "postcard-service", "POSTCARD_SERVICE_PORT=<port>"),
        ("gateway", "gateway", "--port <port>"),
    ],
)
def test_a_busy_port_fails_at_once_with_one_line(
    tmp_path: Path, ports: dict[str, int], busy: str, name: str, how_to_move: str
) -> None:
    with held_port() as port:
        ports[busy] = port
        with dev(tmp_path, ports) as run:
            code, lines = run.finish()
            assert not group_alive(run.process.pid)  # nothing left running

    assert code == 1
    assert lines == [f"scripts/dev: port {port} ({name}) is already in use; choose another with {how_to_move}"]
    assert not (tmp_path / "user-service").exists()  # nothing was started


def test_a_service_dying_at_start_up_is_reported_and_the_rest_stopped(tmp_path: Path, ports: dict[str, int]) -> None:
    # The user-service starts and serves; then the postcard-service refuses its configuration.
    with dev(tmp_path, ports, POSTCARD_SERVICE_LOG_LEVEL="chatty") as run:
        code, lines = run.finish()
        assert not group_alive(run.process.pid)  # the running user-service was stopped too

    assert code == 1
    assert [line for line in lines if line.startswith("scripts/dev:")] == [
        f"scripts/dev: postcard-service exited during start-up (port {ports['postcard']}, "
        "moved with POSTCARD_SERVICE_PORT); its log is above"
    ]
    assert any("POSTCARD_SERVICE_LOG_LEVEL" in line for line in lines)  # the service's own line says why
    assert not any("ready" in line for line in lines)


def test_it_serves_and_sigterm_stops_everything(tmp_path: Path, ports: dict[str, int]) -> None:
    with dev(tmp_path, ports) as run:
        run.wait_for_line("gateway ready")

        base = f"http://127.0.0.1:{ports['gateway']}"
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as response:
            assert response.status == 200
        login = urllib.request.Request(
            f"{base}/api/v1/users/login", data=b'{"code": "dev"}', headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(login, timeout=10) as response:  # through the gateway to the user-service
            assert response.status == 200

        os.kill(run.process.pid, signal.SIGTERM)
        code, _ = run.finish()
        assert code == 143
        assert not group_alive(run.process.pid)


def group_member(pgid: int, marker: str) -> int:
    """The PID of the process in group `pgid` whose command line holds `marker` (one we started)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) == pgid and marker in cmdline:
            return int(entry.name)
    raise AssertionError(f"no {marker!r} in process group {pgid}")


def test_a_child_that_stops_later_is_named_and_the_rest_stopped(tmp_path: Path, ports: dict[str, int]) -> None:
    with dev(tmp_path, ports) as run:
        run.wait_for_line("gateway ready")
        os.kill(group_member(run.process.pid, "services.postcard.worker_main"), signal.SIGKILL)
        code, lines = run.finish()
        assert not group_alive(run.process.pid)

    assert code == 1
    assert [line for line in lines if line.startswith("scripts/dev:")] == [
        "scripts/dev: postcard-worker exited (status 137); stopping the rest; its log is above"
    ]


def test_help_is_the_header_comment_and_starts_nothing() -> None:
    result = subprocess.run([str(DEV), "--help"], capture_output=True, text=True, timeout=30, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "Sets up and runs the whole system locally with embedded defaults:"
    assert not any(line.startswith(("#", "set ", "cd ")) for line in lines)  # comment text only
