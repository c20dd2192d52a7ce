"""Slow, idle and greedy clients against the real server construction (gateway.http_server).

Each test serves a gateway of its own, with short timeouts or small limits, in front of the
real services. Clients trickle at their own pace; the tests wait for the server to close the
connection (bounded generously), they never sleep against a timeout.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import HttpSettings
from tests.e2e.conftest import VALID_POSTCARD, System, bearer
from tests.support.http_server import serve
from tests.support.raw_http import CLOSE_BOUND_SECONDS, RawResponse, connect, parse, read_response
from tests.support.telemetry import counted

pytestmark = pytest.mark.asyncio(loop_scope="package")

TRICKLE_INTERVAL_SECONDS = 0.2  # how often a slow client sends its next piece
TIGHT = {"header_timeout_seconds": 1.0, "body_timeout_seconds": 1.0, "keep_alive_timeout_seconds": 1.0,
         "max_header_bytes": 4096}  # fmt: skip


@asynccontextmanager
async def gateway(system: System, **http: Any) -> AsyncIterator[str]:
    """A gateway with these HTTP settings, built and served as in production, before the system's services."""
    settings = system.gateway_settings.model_copy(update={"http": HttpSettings(**http)})
    async with serve(create_app(settings), settings.http) as base_url:
        yield base_url


async def slow_client(base_url: str, first: bytes, then: Sequence[bytes] = (), started: asyncio.Event | None = None
                      ) -> bytes:  # fmt: skip
    """Send `first`, then one piece of `then` (cycled) per interval until the server closes the
    connection; return what the server sent. TimeoutError if it never closes it."""
    reader, writer = await connect(base_url)
    received = b""

    async def read() -> None:
        nonlocal received
        while chunk := await reader.read(65536):
            received += chunk

    reading = asyncio.create_task(read())
    try:
        writer.write(first)
        if started is not None:
            started.set()
        async with asyncio.timeout(CLOSE_BOUND_SECONDS):
            index = 0
            while not reading.done():
                await asyncio.wait({reading}, timeout=TRICKLE_INTERVAL_SECONDS)
                if then and not reading.done() and not writer.is_closing():
                    writer.write(then[index % len(then)])
                    index += 1
            await reading
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        reading.cancel()
        writer.close()
    return received


HEAD = b"GET /api/v1/postcards/me HTTP/1.1\r\nHost: gateway.test\r\n"
POST = (b"POST /api/v1/users/login HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n")  # fmt: skip
HEADERS_TIMEOUT = "request headers not received in time"
BODY_TIMEOUT = "request body not received in time"

# (case, first bytes, trickled pieces, expected: None = closed without an answer, else (status, message))
SLOW_CLIENTS: list[tuple[str, bytes, list[bytes], tuple[int, str] | None]] = [
    ("silent connection", b"", [], None),
    ("partial request line", b"GET /api/v1/post", [], (408, HEADERS_TIMEOUT)),
    ("trickled headers", HEAD, [b"X-Slow: 1\r\n"], (408, HEADERS_TIMEOUT)),
    ("trickled request line", b"G", [b"E", b"T", b" ", b"/"], (408, HEADERS_TIMEOUT)),
    ("only bare line breaks", b"\r\n", [b"\r\n"], None),
    ("headers, then no body", POST, [], (408, BODY_TIMEOUT)),
    ("trickled body", POST + b'{"code": ', [b" "], (408, BODY_TIMEOUT)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "then", "expected"), [c[1:] for c in SLOW_CLIENTS], ids=[c[0] for c in SLOW_CLIENTS]
)
async def test_slow_and_idle_clients_are_cut_off(
    system: System, first: bytes, then: list[bytes], expected: tuple[int, str] | None
) -> None:
    async with gateway(system, **TIGHT) as base_url:
        received = await slow_client(base_url, first, then)
    if expected is None:
        assert received == b""
    else:
        _assert_error(parse(received), *expected)
        assert parse(received).headers["connection"] == "close"


async def test_headers_growing_over_reads_past_the_limit(system: System) -> None:
    async with gateway(system, max_header_bytes=4096, header_timeout_seconds=CLOSE_BOUND_SECONDS) as base_url:
        received = await slow_client(base_url, HEAD, [b"X-Pad: " + b"p" * 1000 + b"\r\n"])
    _assert_error(parse(received), 431, "request headers are larger than the limit of 4096 bytes")


async def test_idle_keep_alive_connection_is_closed(system: System) -> None:
    async with gateway(system, **TIGHT) as base_url:
        reader, writer = await connect(base_url)
        writer.write(b"GET /api/v1/nothing HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        first = await read_response(reader)
        assert first.status == 404
        assert "connection" not in first.headers  # kept alive ...
        assert await reader.read() == b""  # ... until idle for the keep-alive timeout
        writer.close()


async def test_trickled_next_request_on_a_kept_alive_connection(system: System) -> None:
    async with gateway(system, **TIGHT) as base_url:
        received = await slow_client(base_url, b"GET /api/v1/nothing HTTP/1.1\r\nHost: gateway.test\r\n\r\n" + HEAD,
                                     [b"X-Slow: 1\r\n"])  # fmt: skip
    first, _, second = received.partition(b"}}")  # two JSON error bodies, back to back
    assert parse(first + b"}}").status == 404
    _assert_error(parse(second), 408, HEADERS_TIMEOUT)


async def test_normal_requests_succeed_while_200_clients_trickle(system: System) -> None:
    async with gateway(system, header_timeout_seconds=2.0, body_timeout_seconds=2.0) as base_url:
        started = [asyncio.Event() for _ in range(200)]
        tricklers = [
            asyncio.create_task(
                slow_client(base_url, HEAD, [b"X-Slow: 1\r\n"], event)
                if index % 2
                else slow_client(base_url, POST, [b" "], event)
            )
            for index, event in enumerate(started)
        ]
        try:
            async with asyncio.timeout(CLOSE_BOUND_SECONDS):
                await asyncio.gather(*(event.wait() for event in started))
            # All 200 are connected and trickling: the normal flow goes on beside them.
            async with httpx.AsyncClient(base_url=base_url, timeout=CLOSE_BOUND_SECONDS) as http:
                login = await http.post("/api/v1/users/login", json={"code": "beside-the-tricklers"})
                assert login.status_code == 200
                token = bearer(login.json()["token"])
                created = await http.post("/api/v1/postcards/create", json=VALID_POSTCARD, headers=token)
                assert created.status_code == 202
                status = await http.get(f"/api/v1/postcards/status/{created.json()['task_id']}", headers=token)
                assert status.status_code == 200
            # And every trickler is cut off by the server, each with its 408.
            answers = [parse(received) for received in await asyncio.gather(*tricklers)]
        finally:
            for trickler in tricklers:
                trickler.cancel()
    assert [a.status for a in answers] == [408] * 200
    assert {a.json()["error"]["message"] for a in answers} == {HEADERS_TIMEOUT, BODY_TIMEOUT}


async def test_in_flight_limit_sheds_with_a_fast_503(system: System) -> None:
    async with gateway(system, max_in_flight_requests=2) as base_url:
        holders = [await connect(base_url) for _ in range(2)]
        for reader, writer in holders:
            # A request whose body the gateway is waiting for: in flight until the body arrives.
            writer.write(POST.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        async with httpx.AsyncClient(base_url=base_url) as http:
            shed = await http.get("/api/v1/nothing")
            assert shed.status_code == 503
            assert shed.headers["retry-after"] == "1"
            assert shed.json()["error"]["status"] == "UNAVAILABLE"
            for _, writer in holders:
                writer.close()
            assert await _eventually_not_shed(http) == 404
            exposition = (await http.get("/actuator/prometheus")).text
    assert counted(exposition, "gateway_http_shed_total", limit="in_flight_requests") >= 1
    assert counted(exposition, "gateway_http_shed_total", limit="connections") == 0


async def test_connection_limit_sheds_with_a_fast_503(system: System) -> None:
    async with gateway(system, max_connections=2, keep_alive_timeout_seconds=CLOSE_BOUND_SECONDS) as base_url:
        held = [await connect(base_url) for _ in range(2)]
        for reader, writer in held:  # answered, so accepted and counted; kept alive
            writer.write(b"GET /api/v1/nothing HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
            assert (await read_response(reader)).status == 404
        reader, writer = await connect(base_url)
        writer.write(b"GET /api/v1/nothing HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        shed = await read_response(reader)
        assert (shed.status, shed.headers["connection"], shed.headers["retry-after"]) == (503, "close", "1")
        assert shed.json()["error"]["status"] == "UNAVAILABLE"
        assert await reader.read() == b""  # the shed connection is closed
        writer.close()
        for _, held_writer in held:
            held_writer.close()
        async with httpx.AsyncClient(base_url=base_url) as http:
            assert await _eventually_not_shed(http) == 404
            exposition = (await http.get("/actuator/prometheus")).text
    assert counted(exposition, "gateway_http_shed_total", limit="connections") >= 1
    assert counted(exposition, "gateway_http_shed_total", limit="in_flight_requests") == 0


async def _eventually_not_shed(http: httpx.AsyncClient) -> int:
    """The status of the first request not shed, once the server has noticed closed connections."""
    async with asyncio.timeout(CLOSE_BOUND_SECONDS):
        while True:  # polled: a server noticing a closed connection is not observable from outside
            response = await http.get("/api/v1/nothing")
            if response.status_code != 503:
                return response.status_code
            await asyncio.sleep(0.05)


def _assert_error(response: RawResponse, status: int, message: str) -> None:
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"code": status, "status": response.json()["error"]["status"], "message": message, "details": []}
    }
