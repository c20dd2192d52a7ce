"""HTTP/1.1 over a raw TCP connection, for requests no HTTP client library would send."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Generous: only a bound for a test that would otherwise hang, never a measurement.
CLOSE_BOUND_SECONDS = 60.0


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse(raw: bytes) -> RawResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers, body)


async def connect(base_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlsplit(base_url)
    return await asyncio.open_connection(url.hostname, url.port)


async def read_response(reader: asyncio.StreamReader, bound: float = CLOSE_BOUND_SECONDS) -> RawResponse:
    """One response framed by its Content-Length, leaving the connection open."""
    async with asyncio.timeout(bound):
        head = await reader.readuntil(b"\r\n\r\n")
        response = parse(head)
        length = int(response.headers.get("content-length", "0"))
        response.body = await reader.readexactly(length) if length else b""
    return response


async def exchange(base_url: str, data: bytes) -> RawResponse:
    """Send `data` on a new connection and read one response (not for HEAD: it has no body)."""
    reader, writer = await connect(base_url)
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


def request_bytes(method: str, path: str, headers: Sequence[tuple[str, bytes | str]] = (), body: bytes = b"") -> bytes:
    """An HTTP/1.1 request with `Host`, `Connection: close` and, for a body, `Content-Length`."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: gateway.test", b"Connection: close"]
    for name, value in headers:
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
