"""GET /api/v1/postcards/status/{task_id}/events with real processes: a gateway, a postcard-service and
a worker process, so that the status changes in another process, as in production.

What `curl -N -H 'Accept: text/event-stream' .../events` shows on a fresh task, the same as NDJSON, a
client leaving mid-stream, the service or the gateway stopping mid-stream, and another user's task.
Every process is a child of the test, stopped by PID; waits are bounded.
"""
from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.http_errors import assert_error
from tests.support.processes import Child
from tests.support.streams import ndjson, sse
from tests.support.system import ProcessSystem
from tests.support.waiting import wait_until

SSE = {"accept": "text/event-stream"}
EVENTS = "/api/v1/postcards/status/{}/events"
ROUTE = "/api/v1/postcards/status/{task_id}/events"


async def create(processes: ProcessSystem, client: httpx.AsyncClient, user: str) -> str:
    created = await client.post("/api/v1/postcards/create", headers=processes.token(user),
                                json={"mood": "calm", "style": "ink", "theme": "rain"})
    assert created.status_code == 202, created.text
    task_id: str = created.json()["task_id"]
    return task_id


async def service_watches(service: Child) -> float:
    """The postcard-service's `postcard_task_watches`, from its metrics port."""
    (serving,) = service.logged("serving metrics")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{serving['metrics_port']}/metrics")).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("postcard_task_watches "))


async def messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The messages as a client reads them: each SSE event's data, or each NDJSON object."""
    if "event-stream" in response.headers["content-type"]:
        async for event in sse(response):
            yield event["data"]
    else:
        async for line in ndjson(response):
            yield line


@pytest.mark.parametrize("accept", [SSE, {}], ids=["sse", "ndjson"])
async def test_a_fresh_task_streams_processing_then_completed_with_the_postcard_then_the_end(
    processes: ProcessSystem, accept: dict[str, str]
) -> None:
    service = await processes.postcard_service("postcard", embedded_worker=False)
    client = await processes.gateway("gateway", [service])
    task = await create(processes, client, "alice")

    async with client.stream("GET", EVENTS.format(task), headers={**processes.token("alice"), **accept}) as response:
        assert response.status_code == 200
        received = messages(response)
        assert await anext(received) == {"status": "processing"}
        processes.postcard_worker("worker")  # the task changes in another process
        rest = [message async for message in received]  # ... until the gateway ends the stream
    assert response.headers["content-type"] == (
        "text/event-stream; charset=utf-8" if accept else "application/x-ndjson"
    )
    last = rest[-1]
    assert last["status"] == "completed" and last["data"]["task_id"] == task and last["data"]["postcard_id"]
    assert rest[:-1] == []  # a status is sent when it changes, never twice
    polled = (await client.get(f"/api/v1/postcards/status/{task}", headers=processes.token("alice"))).json()
    assert polled == last  # the polling endpoint is unchanged and agrees


async def test_a_client_that_leaves_mid_stream_cancels_the_watch(processes: ProcessSystem) -> None:
    service = await processes.postcard_service("postcard", embedded_worker=False, POSTCARD_SERVICE_METRICS_PORT="0")
    client = await processes.gateway("gateway", [service])
    task = await create(processes, client, "alice")

    async with client.stream("GET", EVENTS.format(task), headers={**processes.token("alice"), **SSE}) as response:
        lines = response.aiter_lines()
        assert await anext(lines) == "id: 1"
        await wait_until(lambda: _equals(service_watches(service), 1), 10, "the service watches the task")
    await wait_until(lambda: _equals(service_watches(service), 0), 10, "the watch is cancelled")

    gateway: Child = client.child  # type: ignore[attr-defined]
    await wait_until(lambda: gateway.logged("access", route=ROUTE), 10, "the stream's access line")
    (line,) = gateway.logged("access", route=ROUTE)
    assert (line["status"], line["stream"], line["stream_end"], line["grpc_code"]) == (
        200, "sse", "client_gone", "CANCELLED"
    )
    rpc = service.logged("rpc", method="/postcardapp.postcard.v1.PostcardService/WatchTaskStatus")
    assert [r["grpc_code"] for r in rpc] == ["CANCELLED"]
    for child in (gateway, service):
        assert not [r for r in child.lines() if r.get("level") == "ERROR" or "exc_info" in r], child.name


async def test_the_service_stopping_mid_stream_ends_it_with_an_error_event(processes: ProcessSystem) -> None:
    service = await processes.postcard_service("postcard", embedded_worker=False)
    client = await processes.gateway("gateway", [service])
    task = await create(processes, client, "alice")

    async with client.stream("GET", EVENTS.format(task), headers={**processes.token("alice"), **SSE}) as response:
        received = sse(response)
        assert (await anext(received))["data"] == {"status": "processing"}
        service.send(signal.SIGTERM)
        rest = [event async for event in received]
    assert rest[-1]["event"] == "error"
    assert rest[-1]["data"] == {"error": {"code": 503, "status": "UNAVAILABLE", "message": "service unavailable",
                                          "details": []}}
    assert await service.wait_exit() == 0


async def test_the_gateway_stopping_mid_stream_ends_it_with_an_error_event(processes: ProcessSystem) -> None:
    service = await processes.postcard_service("postcard", embedded_worker=False)
    client = await processes.gateway("gateway", [service])
    gateway: Child = client.child  # type: ignore[attr-defined]
    task = await create(processes, client, "alice")

    async with client.stream("GET", EVENTS.format(task), headers=processes.token("alice")) as response:
        received = ndjson(response)
        assert await anext(received) == {"status": "processing"}
        gateway.send(signal.SIGTERM)
        rest = [line async for line in received]
    assert rest[-1]["error"]["status"] == "UNAVAILABLE"
    assert rest[-1]["error"]["message"] == "the gateway is shutting down: reconnect"
    assert await gateway.wait_exit() == 0
    assert not [r for r in gateway.lines() if r.get("level") == "ERROR" or "exc_info" in r]


async def test_another_users_task_is_404_before_any_stream(processes: ProcessSystem) -> None:
    service = await processes.postcard_service("postcard", embedded_worker=False)
    client = await processes.gateway("gateway", [service])
    task = await create(processes, client, "alice")
    for accept in (SSE, {}):
        refused = await client.get(EVENTS.format(task), headers={**processes.token("mallory"), **accept})
        assert assert_error(refused, 404, "NOT_FOUND")["message"] == "task not found"
    assert_error(await client.get(EVENTS.format(task), headers=SSE), 401, "UNAUTHENTICATED")


async def _equals(value: Any, expected: float) -> bool:
    return await value == expected
