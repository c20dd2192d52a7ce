"""`ObserveCalls` on a real grpc.aio server, for every kind of handler a service may have.

The handlers are raw-bytes test methods (no contract needed): what is checked is the interceptor —
the request id bound while the handler runs, one "rpc" line and one count per call with its code.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from services.common.interceptors import ObserveCalls
from services.common.metrics import RpcMetrics
from services.common.observability import Observability
from tests.support.telemetry import MemoryTracing, Records
from tests.support.waiting import wait_until

SERVICE = "test.Echo"
handler_log = logging.getLogger("tests.handler")


async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    handler_log.info("handling")
    return request


async def stream_by_yield(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for _ in range(2):
        handler_log.info("handling")
        yield request


async def stream_by_write(request: bytes, context: grpc.aio.ServicerContext) -> None:
    # The reader/writer style of grpc.health.v1's Watch: a coroutine, not a generator.
    for _ in range(2):
        handler_log.info("handling")
        await context.write(request)


async def bidi(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    async for request in requests:
        handler_log.info("handling")
        yield request


async def not_found(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    raise AssertionError("unreachable")


async def broken(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError("a bug")


async def forever(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


HANDLERS = grpc.method_handlers_generic_handler(SERVICE, {
    "Unary": grpc.unary_unary_rpc_method_handler(unary),
    "StreamByYield": grpc.unary_stream_rpc_method_handler(stream_by_yield),
    "StreamByWrite": grpc.unary_stream_rpc_method_handler(stream_by_write),
    "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    "NotFound": grpc.unary_unary_rpc_method_handler(not_found),
    "Broken": grpc.unary_unary_rpc_method_handler(broken),
    "Forever": grpc.unary_unary_rpc_method_handler(forever),
})


class Echo:
    def __init__(self, channel: grpc.aio.Channel, registry: CollectorRegistry) -> None:
        self.channel = channel
        self.registry = registry

    async def call(self, method: str, request_id: str | None = "req-1", **kwargs: Any) -> list[bytes]:
        """Call `method` with one b"ping" (two for Bidi); the responses."""
        metadata = (("x-request-id", request_id),) if request_id is not None else ()
        path = f"/{SERVICE}/{method}"
        if method.startswith("Stream"):
            return [r async for r in self.channel.unary_stream(path)(b"ping", metadata=metadata, **kwargs)]
        if method == "Bidi":
            async def requests() -> AsyncIterator[bytes]:
                yield b"ping"
                yield b"ping"
            return [r async for r in self.channel.stream_stream(path)(requests(), metadata=metadata, **kwargs)]
        return [await self.channel.unary_unary(path)(b"ping", metadata=metadata, **kwargs)]

    def handled(self, method: str, call_type: str, code: str) -> float | None:
        return self.registry.get_sample_value("grpc_server_handled_total", {
            "grpc_service": SERVICE, "grpc_method": method, "grpc_type": call_type, "grpc_code": code})


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    registry = CollectorRegistry()
    server = grpc.aio.server(interceptors=[ObserveCalls(RpcMetrics(registry))])
    server.add_generic_rpc_handlers((HANDLERS,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Echo(channel, registry)
    finally:
        await server.stop(0)


@pytest.mark.parametrize(("method", "call_type", "responses"), [
    ("Unary", "unary", 1),
    ("StreamByYield", "server_stream", 2),
    ("StreamByWrite", "server_stream", 2),
    ("Bidi", "bidi_stream", 2),
])
async def test_every_kind_of_handler_runs_with_the_request_id_and_is_logged_and_counted_once(
    echo: Echo, logs: Records, method: str, call_type: str, responses: int
) -> None:
    assert await echo.call(method, "abc-123:x.y_z") == [b"ping"] * responses

    handled = logs.find("handling")
    assert len(handled) == responses
    assert {record.request_id for record in handled} == {"abc-123:x.y_z"}
    [line] = logs.find("rpc", method=f"/{SERVICE}/{method}")
    assert line.name == "services.rpc"
    assert line.levelno == logging.INFO
    assert (line.grpc_code, line.request_id, line.user_id) == ("OK", "abc-123:x.y_z", None)
    assert line.duration_ms >= 0
    assert echo.handled(method, call_type, "OK") == 1
    assert echo.registry.get_sample_value(
        "grpc_server_handling_seconds_count", {"grpc_service": SERVICE, "grpc_method": method, "grpc_type": call_type}
    ) == 1


@pytest.mark.parametrize("request_id", ["", "has space", "x" * 129, "a/b", "<script>", "semi;colon"])
async def test_a_malformed_request_id_is_not_bound(echo: Echo, logs: Records, request_id: str) -> None:
    await echo.call("Unary", request_id)

    [handled] = logs.find("handling")
    assert handled.request_id is None
    [line] = logs.find("rpc")
    assert line.request_id is None


async def test_without_a_request_id_nothing_is_bound_and_nothing_leaks_between_calls(
    echo: Echo, logs: Records
) -> None:
    await echo.call("Unary", "first")
    await echo.call("Unary", None)

    assert [record.request_id for record in logs.find("handling")] == ["first", None]


@pytest.mark.parametrize(("method", "code"), [("NotFound", "NOT_FOUND"), ("Broken", "UNKNOWN")])
async def test_the_line_and_the_count_carry_the_code_the_call_ended_with(
    echo: Echo, logs: Records, method: str, code: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await echo.call(method)

    assert raised.value.code().name == code
    [line] = logs.find("rpc", method=f"/{SERVICE}/{method}")
    assert (line.grpc_code, line.request_id) == (code, "req-1")
    assert echo.handled(method, "unary", code) == 1


async def test_a_call_past_its_deadline_is_counted_as_deadline_exceeded(echo: Echo, logs: Records) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await echo.call("Forever", timeout=0.2)

    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await wait_until(lambda: logs.find("rpc", method=f"/{SERVICE}/Forever"), 10, "the rpc line")
    [line] = logs.find("rpc", method=f"/{SERVICE}/Forever")
    assert line.grpc_code == "DEADLINE_EXCEEDED"


async def test_an_unknown_method_grows_no_series(echo: Echo) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await echo.channel.unary_unary(f"/{SERVICE}/NoSuchMethod")(b"ping")

    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "NoSuchMethod" not in str(list(echo.registry.collect()))


def test_tracing_off_adds_no_span_interceptor_and_on_puts_it_first() -> None:
    [observe] = Observability(None).server_interceptors()
    assert isinstance(observe, ObserveCalls)

    span, observe = Observability(MemoryTracing().provider).server_interceptors()
    assert isinstance(observe, ObserveCalls)
    assert type(span).__module__.startswith("opentelemetry.instrumentation.grpc")
