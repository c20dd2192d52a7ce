"""The container image's recipe, run without a container engine (no registry is reachable here).

The Dockerfile's builder stage copies a few paths and runs deploy/build-runtime.sh; this test copies
the same paths (read from the Dockerfile itself), runs the same script into a fresh virtual
environment, and starts every entry point the image offers from there, outside this checkout: the
user-service, the postcard-service, a worker and the gateway, which then serve a whole create.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
from pathlib import Path

import httpx

from tests.support.pki import tls_env
from tests.support.processes import REPO, Child
from tests.support.waiting import wait_until

PROBE_BOUND_SECONDS = 60


def builder_copies() -> list[str]:
    """The sources the Dockerfile's builder stage copies (its COPY instructions)."""
    stages = (REPO / "Dockerfile").read_text().split("\nFROM ")
    (builder,) = [stage for stage in stages if stage.split("\n", 1)[0].endswith(" AS builder")]
    sources = []
    for line in builder.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources += line.split()[1:-1]
    return sources


def test_the_dockerfile_copies_what_the_recipe_needs() -> None:
    assert {"requirements.lock", "pyproject.toml", "deploy/build-runtime.sh", "gateway/", "services/",
            "telemetry/", "trust/", "contractrules/", "generated/"} <= set(builder_copies())


async def test_every_entry_point_runs_from_the_installed_image_runtime(tmp_path: Path) -> None:
    source, venv, state = tmp_path / "src", tmp_path / "venv", tmp_path / "state"
    for path in builder_copies():
        target = source / path
        if (REPO / path).is_dir():
            shutil.copytree(REPO / path, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / path, target)
    await asyncio.to_thread(subprocess.run, ["sh", "deploy/build-runtime.sh", str(source), str(venv)],
                            cwd=source, check=True, capture_output=True, timeout=900)
    binary = venv / "bin"
    assert not (binary.parent / "lib" / "python3.11" / "site-packages" / "pytest").exists()  # runtime only

    children: list[Child] = []

    def start(name: str, command: list[str], **env: str) -> Child:
        child = Child(name, [], env, tmp_path, command=[str(binary / command[0]), *command[1:]], cwd=state)
        children.append(child)
        return child

    state.mkdir()
    # The internal hop's certificates, by the image's own postcard-certs (as compose's `certs` service does).
    tls = state / "tls"
    await asyncio.to_thread(subprocess.run, [str(binary / "postcard-certs"), str(tls), "gateway", "user-service",
                                             "postcard-service", "developer"], check=True, capture_output=True,
                            timeout=60)
    try:
        user = start("user-service", ["user-service", "--port", "0"], USER_SERVICE_STATE_DIR=str(state / "user"),
                     USER_SERVICE_WECHAT__DEV_FAKE="true", USER_SERVICE_JWT__GENERATE_DEV_KEY="true",
                     USER_SERVICE_DRAIN_SECONDS="0", USER_SERVICE_JWKS_PORT="0",
                     **tls_env(tls, "user-service", "USER_SERVICE_TLS__"))
        await user.wait_listening()
        [listening] = user.logged("user-service listening")
        jwks_port = listening["jwks_port"]
        db = {"POSTCARD_SERVICE_DB_PATH": str(state / "postcards.sqlite3"), "POSTCARD_SERVICE_DRAIN_SECONDS": "0",
              "POSTCARD_SERVICE_GENERATOR__DELAY_SECONDS": "0.05",
              "POSTCARD_SERVICE_WORKER__POLL_INTERVAL_SECONDS": "0.05"}
        postcard = start("postcard-service", ["postcard-service", "--port", "0", "--no-embedded-worker"], **db,
                         POSTCARD_SERVICE_AUTH__JWKS_URL=f"https://localhost:{jwks_port}/.well-known/jwks.json",
                         POSTCARD_SERVICE_AUTH__JWKS_CA_FILE=str(tls / "ca.crt"),
                         **tls_env(tls, "postcard-service", "POSTCARD_SERVICE_TLS__"))
        await postcard.wait_listening()
        start("postcard-worker", ["postcard-worker"], **db)
        gateway = start("postcard-gateway", ["postcard-gateway", "--port", "0"],
                        GATEWAY_AUTH__JWKS_URL=f"https://localhost:{jwks_port}/.well-known/jwks.json",
                        GATEWAY_AUTH__JWKS_CA_FILE=str(tls / "ca.crt"),
                        GATEWAY_HTTP__DRAIN_SECONDS="0",
                        GATEWAY_UPSTREAMS=json.dumps({
                            "postcardapp.user.v1.UserService": {"endpoints": [f"127.0.0.1:{user.port}"],
                                                                "tls_server_name": "user-service"},
                            "postcardapp.postcard.v1.PostcardService": {"endpoints": [f"127.0.0.1:{postcard.port}"],
                                                                        "tls_server_name": "postcard-service"},
                        }),
                        **tls_env(tls, "gateway", "GATEWAY_UPSTREAM_TLS__"))
        await gateway.wait_listening()
        base = f"http://127.0.0.1:{gateway.port}"

        def probe(*args: str) -> bool:
            return subprocess.run([str(binary / "postcard-probe"), *args], timeout=30).returncode == 0

        await wait_until(lambda: probe("http", f"{base}/actuator/health/readiness"), PROBE_BOUND_SECONDS,
                         "the installed gateway is ready")
        developer = ["--cacert", str(tls / "ca.crt"), "--cert", str(tls / "developer" / "tls.crt"),
                     "--key", str(tls / "developer" / "tls.key")]
        assert probe("grpc", f"127.0.0.1:{postcard.port}", *developer)
        assert probe("grpc", f"127.0.0.1:{user.port}", *developer)
        assert not probe("grpc", f"127.0.0.1:{user.port}")  # no client certificate: refused

        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            token = (await client.post("/api/v1/users/login", json={"code": "c"})).json()["token"]
            headers = {"authorization": f"Bearer {token}"}
            task = (await client.post("/api/v1/postcards/create", headers=headers,
                                      json={"mood": "calm", "style": "ink", "theme": "rain"})).json()["task_id"]

            async def done() -> bool:
                status = (await client.get(f"/api/v1/postcards/status/{task}", headers=headers)).json()
                return status["status"] == "completed"

            await wait_until(done, PROBE_BOUND_SECONDS, "the standalone worker completed the task")
    finally:
        for child in reversed(children):
            child.send(signal.SIGTERM)
        codes = [await child.wait_exit() for child in children]
    assert codes == [0, 0, 0, 0], [child.tail() for child in children]
