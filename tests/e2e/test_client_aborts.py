"""Clients that go away mid-request or send a broken body: logged as that, one line, no traceback.

Anyone can do this at will, so it must never fill the error log. The whole-system fixture also
checks, after the package, that the gateway logged no traceback at all.
"""
from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.raw_http import connect, read_response
from tests.support.waiting import wait_until

from .conftest import System

pytestmark = pytest.mark.asyncio(loop_scope="package")


def lines_for(system: System, request_id: str) -> list[logging.LogRecord]:
    return [r for r in system.log.records if getattr(r, "request_id", None) == request_id]


async def test_a_client_that_leaves_mid_body_is_one_access_line(system: System) -> None:
    token = await system.login()
    tasks = system.count_rows("tasks")
    _, writer = await connect(system.base_url)
    writer.write(
        b"POST /api/v1/postcards/create HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nX-Request-ID: leaves-mid-body\r\n"
        b"Content-Length: 1000\r\n\r\n" + b'{"mood": "hap'
    )
    await writer.drain()
    writer.close()

    await wait_until(lambda: [r for r in lines_for(system, "leaves-mid-body") if r.name == "gateway.access"],
                     what="the access line of the abandoned request")
    (line,) = [r for r in lines_for(system, "leaves-mid-body") if r.name == "gateway.access"]
    assert (line.status, line.grpc_code, line.levelno) == (499, "CANCELLED", logging.INFO)
    assert not any(r.levelno >= logging.ERROR for r in lines_for(system, "leaves-mid-body"))
    assert system.count_rows("tasks") == tasks  # nothing was created


async def test_a_malformed_chunked_body_is_the_servers_400_and_one_warning(system: System) -> None:
    token = await system.login()
    tasks = system.count_rows("tasks")
    before = len(system.log.records)
    reader, writer = await connect(system.base_url)
    try:
        writer.write(
            b"POST /api/v1/postcards/create HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nX-Request-ID: broken-chunks\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"moo\r\nnot-a-chunk-size\r\n"
        )
        await writer.drain()
        response = await read_response(reader)
    finally:
        writer.close()
    assert response.status == 400
    await asyncio.sleep(0)
    new = system.log.records[before:]
    assert not [r for r in new if r.levelno >= logging.ERROR or r.exc_info]
    assert [r.getMessage() for r in new if r.levelno == logging.WARNING] == ["Invalid HTTP request received."]
    assert system.count_rows("tasks") == tasks


async def test_a_client_that_leaves_while_the_service_answers_changes_nothing_in_the_log(system: System) -> None:
    token = await system.login()
    _, writer = await connect(system.base_url)
    writer.write(
        b"GET /api/v1/postcards/me HTTP/1.1\r\nHost: gateway.test\r\nX-Request-ID: leaves-early\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n\r\n"
    )
    await writer.drain()
    writer.close()
    await wait_until(lambda: [r for r in lines_for(system, "leaves-early") if r.name == "gateway.access"],
                     what="the access line of the request")
    assert not any(r.levelno >= logging.WARNING for r in lines_for(system, "leaves-early"))
