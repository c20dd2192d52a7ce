"""Both services (and the worker) start and fail the same way: exit 2 for bad configuration, 1 for a busy port.

Each case runs the real ``python -m ...`` command in a subprocess (bounded by a timeout) from an
empty working directory, with the developer's own service variables removed.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.keys import SigningKey

REPO = Path(__file__).resolve().parents[2]

# module, variable prefix, what it needs to start at all (a development setup; jwks.json is written in its folder)
SERVICES = {
    "user-service": ("services.user", "USER_SERVICE_", {"WECHAT__DEV_FAKE": "true", "JWT__GENERATE_DEV_KEY": "true",
                                                        "TLS__INSECURE_PLAINTEXT": "true"}),
    "postcard-service": ("services.postcard", "POSTCARD_SERVICE_", {"TLS__INSECURE_PLAINTEXT": "true",
                                                                    "AUTH__JWKS_PATH": "jwks.json"}),
}
# ... and the other processes that share the entry point.
PROCESSES = {**SERVICES, "postcard-worker": ("services.postcard.worker_main", "POSTCARD_SERVICE_", {})}


def run(service: str, cwd: Path, *args: str, **variables: str | None) -> subprocess.CompletedProcess[str]:
    """`variables` set on top of what the process needs; None removes one of those."""
    module, prefix, needs = PROCESSES[service]
    SigningKey().write_jwks(cwd / "jwks.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USER_SERVICE_", "POSTCARD_SERVICE_"))}
    env.update({prefix + name: value for name, value in {**needs, **variables}.items() if value is not None})
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def error_lines(stderr: str) -> list[str]:
    """Our JSON log lines at ERROR (gRPC's C core also writes its own plain-text line on a bind failure)."""
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [record["message"] for record in records if record["level"] == "ERROR"]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port held by a listening socket of this test (no SO_REUSEPORT), released after."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("service", SERVICES)
def test_a_busy_port_exits_1_with_one_line_naming_it(service: str, busy_port: int, tmp_path: Path) -> None:
    result = run(service, tmp_path, "--port", str(busy_port))

    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        f"cannot start: could not listen on 127.0.0.1:{busy_port} (address in use or not available)"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_bad_configuration_exits_2_naming_the_variable(service: str, tmp_path: Path) -> None:
    result = run(service, tmp_path, "--port", "0", LOG_LEVEL="chatty")

    assert result.returncode == 2, result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith("invalid configuration:")
    assert f"{SERVICES[service][1]}LOG_LEVEL" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("process", "variable", "args"), [
    ("user-service", "METRICS_PORT", ["--port", "0"]),
    ("postcard-service", "METRICS_PORT", ["--port", "0"]),
    ("postcard-worker", "WORKER__METRICS_PORT", []),
])
def test_a_busy_metrics_port_exits_1_with_one_line_naming_its_variable(
    process: str, variable: str, args: list[str], busy_port: int, tmp_path: Path
) -> None:
    result = run(process, tmp_path, *args, **{variable: str(busy_port)})

    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        f"cannot start: could not serve metrics on 127.0.0.1:{busy_port} "
        f"(address in use or not available; set {PROCESSES[process][1]}{variable})"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_no_tls_and_no_explicit_plaintext_exits_2_naming_the_variables(service: str, tmp_path: Path) -> None:
    result = run(service, tmp_path, "--port", "0", TLS__INSECURE_PLAINTEXT=None)

    assert result.returncode == 2, result.stderr
    prefix = SERVICES[service][1]
    [line] = error_lines(result.stderr)
    assert line.startswith("cannot start: the internal hop is mutual TLS: ")
    assert all(f"{prefix}TLS__{name}" in line for name in ("CERT_FILE", "KEY_FILE", "CA_FILE", "INSECURE_PLAINTEXT"))
    assert "Traceback" not in result.stderr


def test_a_missing_tls_file_exits_2_naming_it(tmp_path: Path, pki: Path) -> None:
    result = run("postcard-service", tmp_path, "--port", "0", TLS__INSECURE_PLAINTEXT=None,
                 TLS__CERT_FILE=str(tmp_path / "nowhere.crt"), TLS__KEY_FILE=str(pki / "postcard-service/tls.key"),
                 TLS__CA_FILE=str(pki / "ca.crt"))

    assert result.returncode == 2, result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith("cannot start: POSTCARD_SERVICE_TLS__*: ") and "nowhere.crt" in line


def test_the_postcard_service_needs_a_key_source_to_verify_callers(tmp_path: Path) -> None:
    result = run("postcard-service", tmp_path, "--port", "0", AUTH__JWKS_PATH=None)

    assert result.returncode == 2, result.stderr
    [line] = error_lines(result.stderr)
    assert "POSTCARD_SERVICE_AUTH__JWKS_PATH" in line and "POSTCARD_SERVICE_AUTH__JWKS_URL" in line


@pytest.mark.parametrize("service", SERVICES)
def test_a_busy_health_port_exits_1_naming_its_variable(service: str, busy_port: int, tmp_path: Path) -> None:
    result = run(service, tmp_path, "--port", "0", HEALTH_PORT=str(busy_port))

    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        f"cannot start: could not listen on 127.0.0.1:{busy_port} (address in use or not available); "
        f"set {SERVICES[service][1]}HEALTH_PORT"
    ]


@pytest.mark.parametrize(("process", "args", "url"), [
    ("postcard-service", ["--port", "0"], None),  # missing: refused with the settings
    ("postcard-worker", [], "http://:s3cret@redis:6379/0"),  # not a Redis URL: refused when the client is built
])
def test_the_redis_queue_without_a_usable_url_exits_2_naming_the_variable(
    process: str, args: list[str], url: str | None, tmp_path: Path
) -> None:
    variables = {"QUEUE__BACKEND": "redis", **({"QUEUE__REDIS_URL": url} if url else {})}
    result = run(process, tmp_path, *args, **variables)

    assert result.returncode == 2, result.stderr
    [line] = error_lines(result.stderr)
    assert "POSTCARD_SERVICE_QUEUE__REDIS_URL must" in line
    assert "s3cret" not in result.stderr  # the URL may hold a password: never logged
    assert "Traceback" not in result.stderr
