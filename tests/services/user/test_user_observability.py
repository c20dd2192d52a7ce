"""The user-service observed: one line per call with the gateway's request id, metrics on their own port,
server spans continuing the caller's trace, and health untouched by tracing."""
from __future__ import annotations

import asyncio
import functools

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider

from postcardapp.user.v1 import user_service_pb2 as pb
from postcardapp.user.v1 import user_service_pb2_grpc as pb_grpc
from services.user.server import SERVICE_NAME, create_server
from tests.fakes.wechat import FakeWeChat
from tests.services.user.support import MakeSettings, Running
from tests.support.grpc_services import started
from tests.support.telemetry import MemoryTracing, Records, sample, scrape

LOGIN = f"/{SERVICE_NAME}/Login"
GET_ME = f"/{SERVICE_NAME}/GetMe"


async def test_each_call_logs_one_line_with_the_request_id_and_so_do_the_lines_it_causes(
    running: Running, fake_wechat: FakeWeChat, logs: Records
) -> None:
    await running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code()), metadata=(("x-request-id", "r-login"),))

    [line] = logs.find("rpc", method=LOGIN)
    assert (line.grpc_code, line.request_id, line.user_id) == ("OK", "r-login", None)
    [login] = logs.find("login")
    assert login.request_id == "r-login"


async def test_the_line_names_the_caller_and_the_code_a_refused_call_ended_with(
    running: Running, logs: Records
) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await running.stub.GetMe(pb.GetMeRequest(), metadata=(*running.as_user("u-1"), ("x-request-id", "r-me")))

    [line] = logs.find("rpc", method=GET_ME)
    assert (line.grpc_code, line.request_id, line.user_id) == ("NOT_FOUND", "r-me", "u-1")


async def test_health_probes_log_at_debug_only(running: Running, logs: Records) -> None:
    await health_pb2_grpc.HealthStub(running.channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))

    [line] = logs.find("rpc", method="/grpc.health.v1.Health/Check")
    assert line.levelname == "DEBUG"


async def test_metrics_are_served_on_their_own_port_only_when_set(
    make_settings: MakeSettings, fake_wechat: FakeWeChat, logs: Records
) -> None:
    async with started(create_server, make_settings()) as (server, _, _):
        assert server.metrics_port is None

    async with started(create_server, make_settings(metrics_port=0)) as (server, _, channel):
        assert server.metrics_port
        [announced] = logs.find("serving metrics")
        assert (announced.host, announced.metrics_port) == ("127.0.0.1", server.metrics_port)
        stub = pb_grpc.UserServiceStub(channel)
        await stub.Login(pb.LoginRequest(code=fake_wechat.issue_code()))
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Login(pb.LoginRequest(code=" "))

        samples = await scrape(server.metrics_port)
        labels = {"grpc_service": SERVICE_NAME, "grpc_method": "Login", "grpc_type": "unary"}
        assert sample(samples, "grpc_server_handled_total", **labels, grpc_code="OK") == 1
        assert sample(samples, "grpc_server_handled_total", **labels, grpc_code="INVALID_ARGUMENT") == 1
        assert sample(samples, "grpc_server_handling_seconds_count", **labels) == 2
        port = server.metrics_port

    # Stopped: the port is released.
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)


async def test_a_busy_metrics_port_fails_the_start_naming_the_variable(
    make_settings: MakeSettings
) -> None:
    async with started(create_server, make_settings(metrics_port=0)) as (server, _, _):
        with pytest.raises(OSError, match="USER_SERVICE_METRICS_PORT"):
            await create_server(make_settings(metrics_port=server.metrics_port))


async def test_a_traced_call_gets_a_server_span_in_the_callers_trace(
    make_settings: MakeSettings, fake_wechat: FakeWeChat, tracing: MemoryTracing, logs: Records
) -> None:
    caller = TracerProvider().get_tracer("the gateway, say")
    create = functools.partial(create_server, tracer_provider=tracing.provider)
    async with started(create, make_settings()) as (_, _, channel):
        with caller.start_as_current_span("client call") as client_span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            await pb_grpc.UserServiceStub(channel).Login(
                pb.LoginRequest(code=fake_wechat.issue_code()), metadata=tuple(carrier.items())
            )
        [span] = tracing.spans(LOGIN)

    client = client_span.get_span_context()
    assert span.kind == trace.SpanKind.SERVER
    assert span.context.trace_id == client.trace_id
    assert span.parent is not None and span.parent.span_id == client.span_id
    [line] = logs.find("rpc", method=LOGIN)
    assert line.trace_id == format(client.trace_id, "032x")


async def test_health_watch_still_works_with_tracing_on_and_makes_no_span(
    make_settings: MakeSettings, tracing: MemoryTracing
) -> None:
    # opentelemetry-instrumentation-grpc's stream wrapper breaks Watch (a context.write handler): it stays out.
    create = functools.partial(create_server, tracer_provider=tracing.provider)
    async with started(create, make_settings()) as (_, _, channel):
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        try:
            first = await asyncio.wait_for(watch.read(), 10)
        finally:
            watch.cancel()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))

    assert tracing.exporter.get_finished_spans() == ()
