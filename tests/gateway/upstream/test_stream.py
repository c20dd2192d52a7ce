"""Server-streaming calls through the upstream layer, against real gRPC servers of the ticker contract.

The same picking, breaker and retries as unary calls up to the first message;
after it, no retry, and the breaker hears only backend faults. Cancelling
(the HTTP client left) ends the call on the server at once.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from gateway.errors import GatewayError
from gateway.settings import BreakerSettings, FallbackSettings, HealthCheckSettings, RetrySettings, UpstreamSettings
from gateway.upstream.call import CallContext
from gateway.upstream.client import Upstream
from gateway.upstream.rpc import RpcCatalog
from gateway.upstream.stream import UpstreamStream
from tests.support.ticker_server import TICKER_SERVICE, TickerBackend
from tests.support.waiting import wait_until

TICK = f"{TICKER_SERVICE}.Tick"
TICK_BRIEFLY = f"{TICKER_SERVICE}.TickBriefly"
FAST_HEALTH = HealthCheckSettings(reconnect_initial_seconds=0.05, reconnect_max_seconds=0.2)
CONTEXT = CallContext(metadata=(("x-request-id", "r-1"),), user_id=None, client_deadline=None, idempotency_key=False)


@pytest.fixture
async def backends() -> AsyncIterator[list[TickerBackend]]:
    async with TickerBackend("a") as a, TickerBackend("b") as b:
        yield [a, b]


@asynccontextmanager
async def upstream_of(backends: list[TickerBackend], *, stream_max_seconds: float = 30, **settings: Any
                      ) -> AsyncIterator[Upstream]:  # fmt: skip
    upstream = Upstream(
        {TICKER_SERVICE: UpstreamSettings(endpoints=[b.target for b in backends], health=FAST_HEALTH, **settings)},
        FallbackSettings(),
        stream_max_seconds=stream_max_seconds,
    )
    await upstream.start(first_report_timeout=10)
    try:
        yield upstream
    finally:
        await upstream.close()


async def open_ticks(upstream: Upstream, catalog: RpcCatalog, method: str = TICK, **request: Any) -> UpstreamStream:
    rpc = catalog[method]
    return await upstream.open_stream(rpc, rpc.request_class(**request), CONTEXT)


def breaker(upstream: Upstream, backend: TickerBackend) -> Any:
    return next(e for e in upstream.pools[TICKER_SERVICE].endpoints if e.target == backend.target).breaker


async def test_every_message_then_the_end(ticker_catalog: RpcCatalog, backends: list[TickerBackend]) -> None:
    a, _ = backends
    async with upstream_of([a]) as upstream:
        stream = await open_ticks(upstream, ticker_catalog, count=3)
        assert [message.n async for message in stream] == [1, 2, 3]
        assert stream.code == "OK"
        assert a.received_metadata[-1]["x-request-id"] == "r-1"
        empty = await open_ticks(upstream, ticker_catalog, count=0)
        assert [message async for message in empty] == []


async def test_a_failure_before_the_first_message_is_raised_by_opening(
    ticker_catalog: RpcCatalog, backends: list[TickerBackend]
) -> None:
    a, _ = backends
    async with upstream_of([a]) as upstream:
        with pytest.raises(GatewayError) as failed:
            await open_ticks(upstream, ticker_catalog, count=3, fail_first="NOT_FOUND")
        assert (failed.value.http_status, failed.value.message) == (404, "a fails first")
        assert breaker(upstream, a).failures == 0  # an answer from a live backend


async def test_a_failure_after_the_first_message_ends_the_iteration_and_counts_against_the_endpoint(
    ticker_catalog: RpcCatalog, backends: list[TickerBackend]
) -> None:
    a, _ = backends
    async with upstream_of([a]) as upstream:
        stream = await open_ticks(upstream, ticker_catalog, count=2, then="INTERNAL")
        received = []
        with pytest.raises(GatewayError) as failed:
            async for message in stream:
                received.append(message.n)
        assert received == [1, 2]
        assert (failed.value.http_status, failed.value.message) == (500, "internal error")
        assert (stream.code, breaker(upstream, a).failures) == ("INTERNAL", 1)


async def test_before_the_first_message_a_safe_stream_is_retried_on_another_endpoint(
    ticker_catalog: RpcCatalog, backends: list[TickerBackend]
) -> None:
    a, _ = backends
    a.fail_with = grpc.StatusCode.UNAVAILABLE
    async with upstream_of(backends, breaker=BreakerSettings(failure_threshold=1000),
                           retry=RetrySettings(budget_ratio=1.0)) as upstream:
        for _ in range(20):
            stream = await open_ticks(upstream, ticker_catalog, count=1)
            assert [message.text async for message in stream] == ["b"]
        assert a.calls["Tick"] > 0  # some opened on a first and were retried on b


async def test_after_the_first_message_nothing_is_retried(
    ticker_catalog: RpcCatalog, backends: list[TickerBackend]
) -> None:
    async with upstream_of(backends, retry=RetrySettings(budget_ratio=1.0)) as upstream:
        stream = await open_ticks(upstream, ticker_catalog, count=1, then="UNAVAILABLE")
        with pytest.raises(GatewayError) as failed:
            _ = [message async for message in stream]
        assert (failed.value.http_status, failed.value.headers["Retry-After"]) == (503, "1")
        assert sum(backend.calls["Tick"] for backend in backends) == 1


@pytest.mark.parametrize("how", ["cancel", "cancel the reading task"])
async def test_cancelling_ends_the_call_on_the_server_with_no_verdict(
    ticker_catalog: RpcCatalog, backends: list[TickerBackend], how: str
) -> None:
    a, _ = backends
    async with upstream_of([a]) as upstream:
        stream = await open_ticks(upstream, ticker_catalog, count=1, then="hold")
        assert (await anext(stream)).n == 1
        assert a.active_streams == 1
        if how == "cancel":
            stream.cancel()
        else:  # what the HTTP layer does when its client disconnects
            reading = asyncio.create_task(anext(stream))
            await asyncio.sleep(0.05)
            reading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reading
        await wait_until(lambda: a.active_streams == 0, what="the server's stream ends")
        assert (a.cancelled["Tick"], stream.code) == (1, "CANCELLED")
        assert (breaker(upstream, a).state, breaker(upstream, a).failures) == ("closed", 0)
        with pytest.raises(StopAsyncIteration):
            await anext(stream)


async def test_the_deadline_is_the_streams_maximum_duration_not_a_fault(
    ticker_catalog: RpcCatalog, backends: list[TickerBackend]
) -> None:
    a, _ = backends
    # TickBriefly's contract says 0.3 s; Tick has no timeout and gets the stream default.
    async with upstream_of([a], stream_max_seconds=0.3) as upstream:
        for method in (TICK, TICK_BRIEFLY):
            stream = await open_ticks(upstream, ticker_catalog, method, count=1, then="hold")
            with pytest.raises(GatewayError) as failed:
                _ = [message async for message in stream]
            assert (failed.value.http_status, failed.value.message) == (504, "the stream reached its maximum duration")
        assert breaker(upstream, a).failures == 0


async def test_a_stopped_server_ends_the_stream_as_unavailable(
    ticker_catalog: RpcCatalog, backends: list[TickerBackend]
) -> None:
    a, _ = backends
    async with upstream_of([a]) as upstream:
        stream = await open_ticks(upstream, ticker_catalog, count=1, then="hold")
        await anext(stream)
        await a.stop(0)
        with pytest.raises(GatewayError) as failed:
            await anext(stream)
        assert (failed.value.http_status, failed.value.message) == (503, "service unavailable")


async def test_unary_and_streaming_handles_are_not_interchangeable(
    ticker_catalog: RpcCatalog, backends: list[TickerBackend]
) -> None:
    async with upstream_of(backends[:1]) as upstream:
        rpc = ticker_catalog[TICK]
        with pytest.raises(TypeError, match="open_stream"):
            await upstream.call(rpc, rpc.request_class(), CONTEXT)
