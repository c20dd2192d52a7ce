"""Server-streaming routes over real HTTP, from a contract the gateway has never seen (the ticker).

A real gateway (the production server configuration) in front of a real gRPC
server of TickerService: framing by Accept (NDJSON by default, SSE on request),
errors before and after the first message, heartbeats, the client leaving,
the maximum duration, the caps on open streams, metrics and the access line.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.routes.table import RouteTableError, load_routes, rpc_catalog
from gateway.settings import (
    AuthSettings,
    ContractSettings,
    HealthCheckSettings,
    HttpSettings,
    RateLimitSettings,
    Settings,
    StreamSettings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from gateway.upstream.rpc import RpcCatalog
from tests.support.http_errors import assert_error
from tests.support.http_server import serve
from tests.support.keys import SigningKey
from tests.support.streams import ndjson, sse
from tests.support.telemetry import counted
from tests.support.ticker_server import TICKER_MODULE, TICKER_SERVICE, TickerBackend
from tests.support.waiting import wait_until

UNLIMITED = RateLimitSettings(default="1000/second", routes={}, auth_failures="1000/second")
SSE = {"accept": "text/event-stream"}
TICK_ROUTE = "/test/v1/ticks/{count}"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
async def ticker(ticker_catalog: RpcCatalog) -> AsyncIterator[TickerBackend]:
    async with TickerBackend("a") as backend:
        yield backend


class Gateway:
    def __init__(self, client: httpx.AsyncClient, key: SigningKey) -> None:
        self.client = client
        self.key = key

    def auth(self, user: str = "alice", **headers: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key.token(sub=user)}", **headers}

    async def metric(self, name: str, **labels: str) -> float:
        """The value of one series in /actuator/prometheus (0 when absent)."""
        return counted((await self.client.get("/actuator/prometheus")).text, name, **labels)


@asynccontextmanager
async def gateway_of(backend: TickerBackend, key: SigningKey, folder: Path, **streams: Any) -> AsyncIterator[Gateway]:
    settings = Settings(
        http=HttpSettings(cors_origins=["https://app.example"]),
        auth=AuthSettings(jwks_path=key.write_jwks(folder / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        contracts=ContractSettings(modules=[TICKER_MODULE]),
        upstreams={TICKER_SERVICE: UpstreamSettings(
            endpoints=[backend.target], health=HealthCheckSettings(reconnect_initial_seconds=0.05),
        )},
        rate_limit=UNLIMITED,
        streams=StreamSettings(**{"retry_milliseconds": 1500, **streams}),
    )
    async with serve(create_app(settings), settings.http) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield Gateway(client, key)


@pytest.fixture
async def gateway(ticker: TickerBackend, key: SigningKey, tmp_path: Path) -> AsyncIterator[Gateway]:
    async with gateway_of(ticker, key, tmp_path) as gateway:
        yield gateway


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="gateway.access")
    return caplog


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.access" and r.route.startswith("/test/")]


async def test_ndjson_is_the_default_one_object_per_line(gateway: Gateway) -> None:
    headers = gateway.auth(**{"x-request-id": "stream-1"})
    async with gateway.client.stream("GET", "/test/v1/ticks/3", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        assert (response.headers["cache-control"], response.headers["vary"]) == ("no-store", "accept")
        assert response.headers["x-request-id"] == "stream-1"
        assert [line async for line in ndjson(response)] == [{"n": n, "text": "a"} for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("accept", "framing"),
    [
        ("text/event-stream", "sse"),
        ("text/event-stream;q=0.5, application/x-ndjson;q=0.9", "ndjson"),
        ("application/x-ndjson, text/event-stream", "sse"),  # equal: the one a browser's EventSource asks for
        ("application/json", "ndjson"),
        ("*/*", "ndjson"),
        ("text/event-stream;q=0", "ndjson"),
        ("text/event-stream;q=oops", "ndjson"),
    ],
)
async def test_accept_chooses_the_framing(gateway: Gateway, accept: str, framing: str) -> None:
    async with gateway.client.stream("GET", "/test/v1/ticks/1", headers=gateway.auth(accept=accept)) as response:
        expected = "text/event-stream; charset=utf-8" if framing == "sse" else "application/x-ndjson"
        assert response.headers["content-type"] == expected
        await response.aread()


async def test_server_sent_events_number_each_event_and_hint_the_retry(gateway: Gateway) -> None:
    async with gateway.client.stream("GET", "/test/v1/ticks/3", headers=gateway.auth(**SSE)) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert "connection" not in response.headers or response.headers["connection"] != "close"
        events = [event async for event in sse(response)]
    assert events == [
        {"id": "1", "retry": 1500, "data": {"n": 1, "text": "a"}},
        {"id": "2", "data": {"n": 2, "text": "a"}},
        {"id": "3", "data": {"n": 3, "text": "a"}},
    ]


async def test_an_error_before_the_first_message_is_an_ordinary_error_response(gateway: Gateway) -> None:
    for headers in (gateway.auth(), gateway.auth(**SSE)):
        response = await gateway.client.get("/test/v1/ticks/3?fail_first=NOT_FOUND", headers=headers)
        assert assert_error(response, 404, "NOT_FOUND")["message"] == "a fails first"
    assert_error(await gateway.client.get("/test/v1/ticks/3", headers=SSE), 401, "UNAUTHENTICATED")
    assert_error(await gateway.client.get("/test/v1/ticks/x", headers=gateway.auth()), 400, "INVALID_ARGUMENT")


async def test_an_error_after_the_first_message_is_the_last_event_in_the_error_shape(gateway: Gateway) -> None:
    error = {"error": {"code": 500, "status": "INTERNAL", "message": "internal error", "details": []}}
    async with gateway.client.stream("GET", "/test/v1/ticks/2?then=INTERNAL", headers=gateway.auth()) as response:
        assert response.status_code == 200
        assert [line async for line in ndjson(response)] == [{"n": 1, "text": "a"}, {"n": 2, "text": "a"}, error]
    async with gateway.client.stream("GET", "/test/v1/ticks/1?then=INTERNAL", headers=gateway.auth(**SSE)) as response:
        events = [event async for event in sse(response)]
    assert events[-1] == {"id": "2", "event": "error", "data": error}


async def test_the_stream_ends_at_its_maximum_duration_with_an_error_event(gateway: Gateway) -> None:
    # TickBriefly's contract timeout (0.3 s) is its maximum duration.
    async with gateway.client.stream("POST", "/test/v1/ticks:brief", json={"count": 1, "then": "hold"}) as response:
        lines = [line async for line in ndjson(response)]
    assert lines[0] == {"n": 1, "text": "a"}
    assert lines[1]["error"] | {"details": []} == {
        "code": 504, "status": "DEADLINE_EXCEEDED", "message": "the stream reached its maximum duration", "details": [],
    }


async def test_a_client_may_shorten_the_maximum_duration(gateway: Gateway) -> None:
    headers = gateway.auth(**{"grpc-timeout": "200m"})
    async with gateway.client.stream("GET", "/test/v1/ticks/1?then=hold", headers=headers) as response:
        lines = [line async for line in ndjson(response)]
    assert lines[-1]["error"]["status"] == "DEADLINE_EXCEEDED"


async def test_heartbeats_keep_an_idle_sse_stream_alive(ticker: TickerBackend, key: SigningKey, tmp_path: Path) -> None:
    async with gateway_of(ticker, key, tmp_path, heartbeat_seconds=0.05) as gateway:
        headers = gateway.auth(**SSE)
        async with gateway.client.stream("GET", "/test/v1/ticks/1?then=hold", headers=headers) as response:
            seen = []
            async for item in sse(response, comments=True):
                seen.append(item)
                if len(seen) == 3:
                    break
        assert seen[0]["data"] == {"n": 1, "text": "a"}
        assert seen[1:] == [{"comment": "keep-alive"}, {"comment": "keep-alive"}]


@pytest.mark.parametrize("headers", [{}, SSE])
async def test_a_client_that_leaves_cancels_the_upstream_call_at_once(
    gateway: Gateway, ticker: TickerBackend, access: pytest.LogCaptureFixture, headers: dict[str, str]
) -> None:
    async with gateway.client.stream("GET", "/test/v1/ticks/1?then=hold", headers=gateway.auth(**headers)) as response:
        lines = response.aiter_lines()
        await anext(lines)
        assert ticker.active_streams == 1
        assert await gateway.metric("gateway_http_streams_open", route=TICK_ROUTE) == 1
    await wait_until(lambda: ticker.active_streams == 0, what="the upstream stream is cancelled")
    assert ticker.cancelled["Tick"] == 1
    await wait_until(lambda: access_lines(access), what="the access line")
    (line,) = access_lines(access)
    assert (line.status, line.stream_end, line.messages, line.grpc_code) == (200, "client_gone", 1, "CANCELLED")
    assert line.stream == ("sse" if headers else "ndjson")
    assert await gateway.metric("gateway_http_streams_open", route=TICK_ROUTE) == 0
    assert not [r for r in access.records if r.exc_info]


async def test_one_access_line_per_stream_at_its_end_and_no_request_latency_sample(
    gateway: Gateway, access: pytest.LogCaptureFixture
) -> None:
    async with gateway.client.stream("GET", "/test/v1/ticks/2", headers=gateway.auth(user="bob")) as response:
        await response.aread()
    (line,) = access_lines(access)
    assert (line.route, line.status, line.user_id, line.grpc_code) == (TICK_ROUTE, 200, "bob", "OK")
    assert (line.stream, line.messages, line.stream_end) == ("ndjson", 2, "completed")
    assert await gateway.metric("gateway_http_request_duration_seconds_count", route=TICK_ROUTE) == 0
    assert await gateway.metric("gateway_http_stream_duration_seconds_count", route=TICK_ROUTE,
                                outcome="completed") == 1
    assert await gateway.metric("gateway_http_requests_total", route=TICK_ROUTE, status="200") == 1
    assert await gateway.metric("gateway_upstream_calls_total", method="Tick", code="OK") == 1


async def test_open_streams_are_capped_per_caller_and_in_all(
    ticker: TickerBackend, key: SigningKey, tmp_path: Path
) -> None:
    async with gateway_of(ticker, key, tmp_path, max_per_caller=2, max_total=3) as gateway, asyncio.TaskGroup() as tg:
        opened: list[asyncio.Event] = []
        close = asyncio.Event()

        async def hold(user: str) -> None:
            url = "/test/v1/ticks/1?then=hold"
            async with gateway.client.stream("GET", url, headers=gateway.auth(user)) as response:
                assert response.status_code == 200
                lines = response.aiter_lines()  # kept: a dropped line iterator closes httpx's connection
                await anext(lines)
                opened[-1].set()
                await close.wait()

        for user in ("alice", "alice", "bob"):
            opened.append(asyncio.Event())
            tg.create_task(hold(user))
            await opened[-1].wait()
        third = await gateway.client.get("/test/v1/ticks/1", headers=gateway.auth("alice"))
        assert "close one first" in assert_error(third, 429, "RESOURCE_EXHAUSTED")["message"]
        full = await gateway.client.get("/test/v1/ticks/1", headers=gateway.auth("carol"))
        assert_error(full, 503, "UNAVAILABLE")
        assert full.headers["retry-after"] == "1"
        assert ticker.calls["Tick"] == 3  # refused before any upstream call
        assert await gateway.metric("gateway_rate_limited_total", route=TICK_ROUTE, limit="streams") == 1
        assert await gateway.metric("gateway_http_shed_total", limit="streams") == 1
        close.set()
    await wait_until(lambda: ticker.active_streams == 0)
    async with gateway_of(ticker, key, tmp_path, max_per_caller=2, max_total=3) as gateway:
        assert (await gateway.client.get("/test/v1/ticks/1", headers=gateway.auth("alice"))).status_code == 200


async def test_head_answers_the_headers_and_ends_the_upstream_call(gateway: Gateway, ticker: TickerBackend) -> None:
    response = await gateway.client.head("/test/v1/ticks/1?then=hold", headers=gateway.auth(**SSE))
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    await wait_until(lambda: ticker.active_streams == 0, what="the upstream stream is cancelled")


async def test_cors_headers_for_an_allowed_origin(gateway: Gateway) -> None:
    headers = gateway.auth(origin="https://app.example")
    async with gateway.client.stream("GET", "/test/v1/ticks/1", headers=headers) as response:
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
        await response.aread()


@pytest.mark.parametrize("service", ["postcardtest.ticker.v1.UploadService", "postcardtest.ticker.v1.ChatService"])
def test_client_and_bidirectional_streaming_routes_stop_start_up(ticker_catalog: RpcCatalog, service: str) -> None:
    with pytest.raises(RouteTableError, match="client-streaming and bidirectional RPCs cannot be exposed over REST"):
        load_routes(rpc_catalog([service]))
