"""Every error the application makes has the one error shape; the HTTP server's own refusals are listed.

The second table is the list in docs/gateway.md ("Requests the HTTP server rejects"): protocol
garbage that httptools refuses before the application sees it, answered by uvicorn itself.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import System
from tests.support.raw_http import exchange

pytestmark = pytest.mark.asyncio(loop_scope="package")

H = b"Host: gateway.test\r\nConnection: close\r\n"
PREFLIGHT = b"Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n"
WEBSOCKET = (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")  # fmt: skip
H2C = b"Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"

# (case, raw request, status, gRPC status name)
APPLICATION_ERRORS: list[tuple[str, bytes, int, str]] = [
    ("CORS preflight, origin not allowed", b"OPTIONS /api/v1/postcards/create HTTP/1.1\r\n" + H + PREFLIGHT, 403,
     "PERMISSION_DENIED"),
    ("no route", b"GET /api/v1/nothing HTTP/1.1\r\n" + H, 404, "NOT_FOUND"),
    ("method not allowed", b"DELETE /api/v1/postcards/me HTTP/1.1\r\n" + H, 405, "UNIMPLEMENTED"),
    ("OPTIONS without CORS headers", b"OPTIONS /api/v1/postcards/me HTTP/1.1\r\n" + H, 405, "UNIMPLEMENTED"),
    ("method not allowed, hand-written route", b"POST /openapi.json HTTP/1.1\r\n" + H, 405, "UNIMPLEMENTED"),
    ("method not allowed, docs page", b"DELETE /docs HTTP/1.1\r\n" + H, 405, "UNIMPLEMENTED"),
    ("WebSocket handshake", b"GET /api/v1/nothing HTTP/1.1\r\nHost: gateway.test\r\n" + WEBSOCKET, 404, "NOT_FOUND"),
    ("h2c upgrade", b"GET /api/v1/postcards/me HTTP/1.1\r\nHost: gateway.test\r\n" + H2C, 401, "UNAUTHENTICATED"),
    ("HTTP/1.1 without Host", b"GET /api/v1/nothing HTTP/1.1\r\nConnection: close\r\n", 400, "INVALID_ARGUMENT"),
    ("two Host headers", b"GET /api/v1/nothing HTTP/1.1\r\nHost: a\r\n" + H, 400, "INVALID_ARGUMENT"),
    ("two Host headers, HTTP/1.0", b"GET /api/v1/nothing HTTP/1.0\r\nHost: a\r\nHost: b\r\n", 400,
     "INVALID_ARGUMENT"),
    ("HTTP/1.0 without Host", b"GET /api/v1/nothing HTTP/1.0\r\n", 404, "NOT_FOUND"),
    ("invalid UTF-8 in the path", b"GET /api/v1/postcards/%FF%FE HTTP/1.1\r\n" + H, 401, "UNAUTHENTICATED"),
    ("lone percent in the path", b"GET /api/v1/%/x HTTP/1.1\r\n" + H, 404, "NOT_FOUND"),
    ("absolute-form target", b"GET http://evil.example/api/v1/nothing HTTP/1.1\r\n" + H, 404, "NOT_FOUND"),
    ("asterisk target", b"OPTIONS * HTTP/1.1\r\n" + H, 404, "NOT_FOUND"),
    ("request line without a version (HTTP/0.9)", b"GET /api/v1/nothing\r\n", 404, "NOT_FOUND"),
    ("headers too large", b"GET /api/v1/nothing HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 40_000 + b"\r\n", 431,
     "OUT_OF_RANGE"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_bytes", "status", "grpc_status"),
    [c[1:] for c in APPLICATION_ERRORS],
    ids=[c[0] for c in APPLICATION_ERRORS],
)
async def test_application_errors_have_the_error_shape(
    system: System, request_bytes: bytes, status: int, grpc_status: str
) -> None:
    response = await exchange(system.base_url, request_bytes + b"\r\n")
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "status", "message", "details"}
    assert (error["code"], error["status"]) == (status, grpc_status)
    assert error["message"]


# Refused by httptools before the application runs: uvicorn's own 400, then the connection closes.
SERVER_REJECTS: list[tuple[str, bytes]] = [
    ("not an HTTP request line", b"HELLO\r\n"),
    ("unknown method", b"BREW /api/v1/nothing HTTP/1.1\r\n" + H),
    ("lower-case method", b"get /api/v1/nothing HTTP/1.1\r\n" + H),
    ("CONNECT", b"CONNECT evil.example:443 HTTP/1.1\r\n" + H),
    ("unknown HTTP version", b"GET /api/v1/nothing HTTP/9.9\r\n" + H),
    ("HTTP/2 preface on HTTP/1.1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n"),
    ("space in the target", b"GET /a b HTTP/1.1\r\n" + H),
    ("non-ASCII byte in the target", b"GET /\xe9 HTTP/1.1\r\n" + H),
    ("header line without colon", b"GET / HTTP/1.1\r\nNoColon\r\n" + H),
    ("space before the colon", b"GET / HTTP/1.1\r\nX-A : b\r\n" + H),
    ("bare CR in a header value", b"GET / HTTP/1.1\r\nX-A: a\rb\r\n" + H),
    ("bare LF line endings", b"GET / HTTP/1.1\nHost: gateway.test\nConnection: close\n"),
    ("obsolete line folding", b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n" + H),
    ("non-numeric Content-Length", b"POST /api/v1/users/login HTTP/1.1\r\nContent-Length: abc\r\n" + H),
    ("negative Content-Length", b"POST /api/v1/users/login HTTP/1.1\r\nContent-Length: -1\r\n" + H),
    ("two different Content-Lengths", b"POST /api/v1/users/login HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
     + H),
    ("Content-Length with Transfer-Encoding", b"POST /api/v1/users/login HTTP/1.1\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n" + H),
    ("Transfer-Encoding not ending in chunked", b"POST /api/v1/users/login HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
     + H),
    ("chunked, then identity", b"POST /api/v1/users/login HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n" + H),
]  # fmt: skip
# Every control byte (CR and LF end lines, so they are the line-ending cases above).
CONTROL_BYTES = [byte for byte in [*range(0x20), 0x7F] if byte not in (0x0A, 0x0D)]
SERVER_REJECTS += [(f"0x{byte:02X} in the target", b"GET /a%cb HTTP/1.1\r\n" % byte + H) for byte in CONTROL_BYTES]
SERVER_REJECTS += [
    (f"0x{byte:02X} in a header value", b"GET / HTTP/1.1\r\nX-A: a%cb\r\n" % byte + H)
    for byte in CONTROL_BYTES
    if byte != 0x09  # a tab is allowed inside a field value
]


@pytest.mark.parametrize("request_bytes", [c[1] for c in SERVER_REJECTS], ids=[c[0] for c in SERVER_REJECTS])
async def test_protocol_garbage_is_the_servers_own_400(system: System, request_bytes: bytes) -> None:
    response = await exchange(system.base_url, request_bytes + b"\r\n")
    assert (response.status, response.body) == (400, b"Invalid HTTP request received.")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_bad_chunk_size_is_the_servers_own_400(system: System) -> None:
    request = (b"POST /api/v1/users/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: application/json\r\n" + H + b"\r\nzz\r\n{}\r\n0\r\n\r\n")  # fmt: skip
    response = await exchange(system.base_url, request)
    assert (response.status, response.body) == (400, b"Invalid HTTP request received.")
