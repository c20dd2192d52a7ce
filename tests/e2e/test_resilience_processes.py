"""Resilience with real processes: postcard-service instances killed, frozen and stopped under load,
two gateway processes sharing a real Redis, and a gateway drained by SIGTERM.

Every process is a child of the test (started with `python -m`, stopped by PID);
loads are bounded in request count, waits in generous time bounds.
"""
from __future__ import annotations

import asyncio
import importlib
import json
import signal
import time
from collections import Counter
from pathlib import Path

import httpx

from gateway.settings import POSTCARD_SERVICE
from tests.support.flaky_server import FLAKY_MODULE, FLAKY_SERVICE, FlakyBackend
from tests.support.pki import tls_files
from tests.support.processes import Child
from tests.support.redis_server import RedisServer
from tests.support.system import ProcessSystem, bounded_load
from tests.support.waiting import wait_until


async def test_sigkill_of_one_instance_under_load_loses_no_request(processes: ProcessSystem) -> None:
    a = await processes.postcard_service("postcard-a")
    b = await processes.postcard_service("postcard-b")
    client = await processes.gateway("gateway", [a, b])
    postcard = await processes.postcard(client, "alice")
    headers = processes.token("alice")

    statuses = await bounded_load(lambda: client.get(f"/api/v1/postcards/{postcard}", headers=headers),
                                  total=400, concurrency=4, at=100, action=lambda: a.send(signal.SIGKILL))
    assert statuses == Counter({200: 400})
    gateway_log: Child = client.child  # type: ignore[attr-defined]
    assert gateway_log.logged("endpoint health UNREACHABLE", endpoint=f"127.0.0.1:{a.port}")


async def test_a_service_stopping_under_load_loses_no_request_not_even_a_create(processes: ProcessSystem) -> None:
    # The stopping instance turns NOT_SERVING and keeps serving for its drain: the gateway's health watch
    # moves traffic away before the port closes, so even creates, which are never retried, all succeed.
    a = await processes.postcard_service("postcard-a", drain=2)
    b = await processes.postcard_service("postcard-b", drain=2)
    client = await processes.gateway("gateway", [a, b])
    headers = processes.token("alice")
    body = {"mood": "calm", "style": "ink", "theme": "rain"}
    requests = iter(range(10**6))

    async def create_or_list() -> httpx.Response:
        if next(requests) % 2:
            return await client.post("/api/v1/postcards/create", headers=headers, json=body)
        return await client.get("/api/v1/postcards/me", headers=headers)

    statuses = await bounded_load(create_or_list, total=400, concurrency=4, at=100,
                                  action=lambda: a.send(signal.SIGTERM))
    assert statuses == Counter({202: 200, 200: 200})
    assert await a.wait_exit() == 0
    gateway: Child = client.child  # type: ignore[attr-defined]
    assert gateway.logged("endpoint health NOT_SERVING", endpoint=f"127.0.0.1:{a.port}")
    assert not [r for r in gateway.lines() if r.get("fallback")]  # every list came from a live instance


async def test_frozen_instance_times_out_then_its_breaker_fails_fast_then_one_probe_closes_it(
    processes: ProcessSystem,
) -> None:
    service = await processes.postcard_service("postcard")
    client = await processes.gateway("gateway", [service], {
        "timeout_seconds": 0.5, "breaker": {"failure_threshold": 3, "reset_timeout_seconds": 2},
    })
    postcard = await processes.postcard(client, "alice")
    headers = processes.token("alice")
    gateway: Child = client.child  # type: ignore[attr-defined]

    service.send(signal.SIGSTOP)
    for _ in range(3):
        assert (await client.get(f"/api/v1/postcards/{postcard}", headers=headers)).status_code == 504
    assert gateway.logged("circuit breaker opened")

    fast = []
    for _ in range(20):
        started = time.perf_counter()
        response = await client.get(f"/api/v1/postcards/{postcard}", headers=headers)
        fast.append(time.perf_counter() - started)
        assert response.status_code == 503 and response.json()["error"]["status"] == "UNAVAILABLE"
        assert 1 <= int(response.headers["retry-after"]) <= 2
    # No deadline waited out: each answer came back well inside the 0.5 s deadline (the median is printed).
    print(f"open breaker: median {sorted(fast)[10] * 1000:.1f} ms, max {max(fast) * 1000:.1f} ms")
    assert max(fast) < 0.25

    service.send(signal.SIGCONT)

    async def recovered() -> bool:
        return (await client.get(f"/api/v1/postcards/{postcard}", headers=headers)).status_code == 200

    await wait_until(recovered, 20, "the breaker closes again")
    assert len(gateway.logged("circuit breaker half-open")) == 1
    assert len(gateway.logged("circuit breaker closed")) == 1


async def test_my_postcards_fall_back_to_the_callers_cache_or_empty_when_the_service_is_down(
    processes: ProcessSystem,
) -> None:
    service = await processes.postcard_service("postcard")
    client = await processes.gateway("gateway", [service])
    mine = await processes.postcard(client, "alice")
    listed = await client.get("/api/v1/postcards/me", headers=processes.token("alice"))
    assert [card["postcard_id"] for card in listed.json()] == [mine]

    await service.stop()
    gateway: Child = client.child  # type: ignore[attr-defined]
    await wait_until(lambda: gateway.logged("endpoint health UNREACHABLE"), what="the gateway saw it go")
    for _ in range(5):
        alice = await client.get("/api/v1/postcards/me", headers=processes.token("alice"))
        assert (alice.status_code, alice.headers["x-fallback"]) == (200, "cache")
        assert [card["postcard_id"] for card in alice.json()] == [mine]
        bob = await client.get("/api/v1/postcards/me", headers=processes.token("bob"))
        assert (bob.status_code, bob.json(), bob.headers["x-fallback"]) == (200, [], "empty")
    one = await client.get(f"/api/v1/postcards/{mine}", headers=processes.token("alice"))  # no fallback declared
    assert (one.status_code, one.json()["error"]["status"]) == (503, "UNAVAILABLE")
    assert "retry-after" in one.headers


async def test_health_goes_down_with_the_service_and_up_when_it_returns(processes: ProcessSystem) -> None:
    service = await processes.postcard_service("postcard")
    client = await processes.gateway("gateway", [service])

    async def health_is(status: int) -> bool:
        return (await client.get("/actuator/health")).status_code == status

    assert await health_is(200)
    port = service.port
    await service.stop()
    await wait_until(lambda: health_is(503), 20, "health DOWN")
    body = (await client.get("/actuator/health")).json()
    assert body["components"]["postcard-service"]["status"] == "DOWN"
    assert (await client.get("/actuator/health/readiness")).status_code == 503

    await processes.postcard_service("postcard-again", port)
    await wait_until(lambda: health_is(200), 20, "health UP again")
    assert (await client.get("/actuator/health/readiness")).status_code == 200


async def test_two_gateway_processes_share_one_limit_in_redis(processes: ProcessSystem, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        service = await processes.postcard_service("postcard")
        shared = {
            "GATEWAY_RATE_LIMIT__STORAGE_URI": redis.uri,
            "GATEWAY_RATE_LIMIT__STRATEGY": "moving-window",  # starts at the first hit, not at a clock minute
            "GATEWAY_RATE_LIMIT__ROUTES": json.dumps({f"{POSTCARD_SERVICE}.ListMyPostcards": "4/minute"}),
            "GATEWAY_RATE_LIMIT__STORAGE_RETRY_SECONDS": "0.2",
        }
        first = await processes.gateway("gateway-1", [service], **shared)
        second = await processes.gateway("gateway-2", [service], **shared)
        headers = processes.token("alice")
        statuses = [(await gateway.get("/api/v1/postcards/me", headers=headers)).status_code
                    for gateway in (first, second, first, second, first, second)]
        assert statuses == [200, 200, 200, 200, 429, 429]
        refused = await second.get("/api/v1/postcards/me", headers=headers)
        assert refused.headers["ratelimit-limit"] == "4" and refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["retry-after"]) >= 1

        redis.stop()  # documented: fail open, with a warning
        for gateway in (first, second):
            assert (await gateway.get("/api/v1/postcards/me", headers=headers)).status_code == 200
            assert gateway.child.logged("rate-limit storage failed")  # type: ignore[attr-defined]
    finally:
        redis.stop()


async def test_sigterm_during_load_fails_no_request_and_in_flight_ones_finish(
    processes: ProcessSystem, test_contracts: Path
) -> None:
    # A backend in this process, so that the test knows when calls have reached it.
    importlib.import_module(FLAKY_MODULE)
    backend = FlakyBackend("backend", tls=tls_files(processes.pki, "postcard-service"))  # as the services serve
    await backend.start()
    try:
        client = await processes.gateway("gateway", [], **{
            "PYTHONPATH": str(test_contracts),
            "GATEWAY_CONTRACTS__MODULES": json.dumps([FLAKY_MODULE]),
            "GATEWAY_UPSTREAMS": json.dumps({FLAKY_SERVICE: {"endpoints": [backend.target]}}),
            "GATEWAY_HTTP__DRAIN_SECONDS": "60",
            "GATEWAY_HTTP__SHUTDOWN_GRACE_SECONDS": "20",
        })
        gateway: Child = client.child  # type: ignore[attr-defined]
        closing = Counter[str]()

        async def get() -> httpx.Response:
            response = await client.get("/test/v1/flaky/k")
            closing[response.headers.get("connection", "keep-alive")] += 1
            return response

        # SIGTERM a third of the way through a load: nothing fails while the drain starts ...
        statuses = await bounded_load(get, total=100, concurrency=4, at=50,
                                      action=lambda: gateway.send(signal.SIGTERM))
        await wait_until(lambda: gateway.logged("gateway draining"), what="draining")
        readiness = await client.get("/actuator/health/readiness")
        assert (readiness.status_code, readiness.json()["details"]["phase"]) == (503, "draining")
        # ... and during it every request is served, and asked to reconnect elsewhere.
        closing.clear()
        statuses += await bounded_load(get, total=200, concurrency=4)
        assert statuses == Counter({200: 300})
        assert closing == Counter({"close": 200})

        # Requests in flight when the drain ends still finish: held at the backend while a second SIGTERM
        # ends the drain, then answered.
        backend.hold = asyncio.Event()
        before = backend.calls["Read"]
        in_flight = [asyncio.create_task(client.get("/test/v1/flaky/k")) for _ in range(3)]
        await wait_until(lambda: backend.calls["Read"] == before + 3, what="three requests in flight")
        gateway.send(signal.SIGTERM)
        await wait_until(lambda: gateway.logged("Shutting down"), what="the drain ended")
        backend.hold.set()
        assert [response.status_code for response in await asyncio.gather(*in_flight)] == [200, 200, 200]
        assert await gateway.wait_exit() == 0
    finally:
        if backend.hold is not None:
            backend.hold.set()
        await backend.stop(0)
