"""Resilience and rate limits as a client sees them: a real gateway over HTTP, real gRPC backends."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from gateway.app import create_app
from gateway.settings import (
    AuthSettings,
    ContractSettings,
    HealthCheckSettings,
    RateLimitSettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from tests.support.flaky_server import FLAKY_MODULE, FLAKY_SERVICE, FlakyBackend
from tests.support.http_errors import assert_error
from tests.support.http_server import serve
from tests.support.keys import SigningKey
from tests.support.waiting import wait_until

UNLIMITED = RateLimitSettings(default="1000/second", routes={})
Gateway = Callable[..., Any]


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
async def backend(flaky_catalog: object) -> AsyncIterator[FlakyBackend]:
    started = FlakyBackend("a")
    await started.start()
    yield started
    if started.hold is not None:
        started.hold.set()
    await started.stop(0)


@pytest.fixture
def gateway(backend: FlakyBackend, key: SigningKey, tmp_path: Path) -> Gateway:
    @asynccontextmanager
    async def running(rate_limit: RateLimitSettings = UNLIMITED, **upstream: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(
            auth=AuthSettings(jwks_path=key.write_jwks(tmp_path / "jwks.json")),
            upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
            contracts=ContractSettings(modules=[FLAKY_MODULE]),
            upstreams={FLAKY_SERVICE: UpstreamSettings(
                endpoints=[backend.target], health=HealthCheckSettings(reconnect_initial_seconds=0.05), **upstream
            )},
            rate_limit=rate_limit,
        )
        app = create_app(settings)
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            client.app = app  # type: ignore[attr-defined]  # for the tests that look inside
            yield client

    return running


def bearer(key: SigningKey, user: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key.token(sub=user)}"}


async def test_no_healthy_endpoint_is_503_with_retry_after(gateway: Gateway, backend: FlakyBackend) -> None:
    async with gateway(retry_after_seconds=3) as client:
        await backend.set_serving(False)
        pool = client.app.state.upstream.pools[FLAKY_SERVICE]  # type: ignore[attr-defined]
        await wait_until(lambda: pool.endpoints[0].status == "NOT_SERVING")
        response = await client.get("/test/v1/flaky/k")
        assert_error(response, 503, "UNAVAILABLE")
        assert response.headers["retry-after"] == "3"
        assert backend.calls.total() == 0


async def test_fallback_is_the_callers_cache_then_empty_flagged(
    gateway: Gateway, backend: FlakyBackend, key: SigningKey
) -> None:
    async with gateway() as client:
        backend.items = ["alice-card"]
        fresh = await client.get("/test/v1/flaky/mine", headers=bearer(key, "alice"))
        assert (fresh.status_code, fresh.json(), fresh.headers.get("x-fallback")) == (200, ["alice-card"], None)

        backend.fail_with = grpc.StatusCode.UNAVAILABLE
        cached = await client.get("/test/v1/flaky/mine", headers=bearer(key, "alice"))
        assert (cached.status_code, cached.json(), cached.headers["x-fallback"]) == (200, ["alice-card"], "cache")
        empty = await client.get("/test/v1/flaky/mine", headers=bearer(key, "bob"))
        assert (empty.status_code, empty.json(), empty.headers["x-fallback"]) == (200, [], "empty")


async def test_grpc_timeout_header(gateway: Gateway, backend: FlakyBackend) -> None:
    async with gateway(timeout_seconds=30) as client:
        assert_error(await client.get("/test/v1/flaky/k", headers={"grpc-timeout": "soon"}), 400, "INVALID_ARGUMENT")
        backend.hold = asyncio.Event()
        timed_out = await client.get("/test/v1/flaky/k", headers={"grpc-timeout": "100m"})
        error = assert_error(timed_out, 504, "DEADLINE_EXCEEDED")
        assert "Deadline" not in error["message"]  # gRPC's own text stays in the log


async def test_route_limit_per_ip_with_the_rate_limit_headers(gateway: Gateway) -> None:
    # Tests that count to a limit use the moving window: it starts at the first hit, so the count does not
    # depend on where the test falls in a clock minute (the default strategy's windows are tested on their own).
    limits = RateLimitSettings(strategy="moving-window", default="1000/second",
                               routes={f"{FLAKY_SERVICE}.Write": "3/minute"})
    async with gateway(limits) as client:
        for _ in range(3):
            assert (await client.post("/test/v1/flaky/k", json={"value": "v"})).status_code == 200
        refused = await client.post("/test/v1/flaky/k", json={"value": "v"})
        error = assert_error(refused, 429, "RESOURCE_EXHAUSTED")
        assert "3 per minute" in error["message"]
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
        assert (await client.get("/test/v1/flaky/k")).status_code == 200  # another route, another count


async def test_limits_are_per_user_when_authenticated(gateway: Gateway, key: SigningKey) -> None:
    async with gateway(RateLimitSettings(strategy="moving-window", default="2/minute", routes={})) as client:
        alice, bob = bearer(key, "alice"), bearer(key, "bob")
        statuses = [(await client.get("/test/v1/flaky/mine", headers=alice)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert (await client.get("/test/v1/flaky/mine", headers=bob)).status_code == 200  # same IP, another user


async def test_failed_authentications_are_limited_per_ip(gateway: Gateway, key: SigningKey) -> None:
    limits = RateLimitSettings(strategy="moving-window", default="1000/second", routes={}, auth_failures="3/minute")
    async with gateway(limits) as client:
        known = bearer(key, "alice")
        assert (await client.get("/test/v1/flaky/mine", headers=known)).status_code == 200
        forged = {"authorization": f"Bearer {SigningKey(kid=key.kid).token(sub='alice')}"}
        assert [(await client.get("/test/v1/flaky/mine", headers=forged)).status_code for _ in range(4)] == [
            401, 401, 401, 429
        ]
        # A token verified before still works; a new one from this address waits (it is not even verified).
        assert (await client.get("/test/v1/flaky/mine", headers=known)).status_code == 200
        assert (await client.get("/test/v1/flaky/mine", headers=bearer(key, "carol"))).status_code == 429
        # A request without any token is not a guess: still 401.
        assert (await client.get("/test/v1/flaky/mine")).status_code == 401


@pytest.mark.parametrize(("trusted", "separate"), [(["127.0.0.1"], True), ([], False)])
async def test_forwarded_for_only_from_trusted_proxies(gateway: Gateway, trusted: list[str], separate: bool) -> None:
    limits = RateLimitSettings(strategy="moving-window", default="1/minute", routes={}, trusted_proxies=trusted)
    async with gateway(limits) as client:
        first = await client.get("/test/v1/flaky/k", headers={"x-forwarded-for": "198.51.100.1"})
        second = await client.get("/test/v1/flaky/k", headers={"x-forwarded-for": "198.51.100.2"})
        assert first.status_code == 200
        assert second.status_code == (200 if separate else 429)


async def test_limits_can_be_disabled(gateway: Gateway) -> None:
    async with gateway(RateLimitSettings(enabled=False, default="1/minute")) as client:
        assert {(await client.get("/test/v1/flaky/k")).status_code for _ in range(5)} == {200}


async def test_draining_asks_clients_to_reconnect_elsewhere(gateway: Gateway) -> None:
    async with gateway() as client:
        assert "close" not in (await client.get("/test/v1/flaky/k")).headers.get("connection", "")
        client.app.state.lifecycle.drain()  # type: ignore[attr-defined]
        response = await client.get("/test/v1/flaky/k")
        assert (response.status_code, response.headers["connection"]) == (200, "close")


async def test_health_reports_every_endpoint_and_goes_down_with_them(
    gateway: Gateway, backend: FlakyBackend
) -> None:
    async with gateway() as client:
        health = await client.get("/actuator/health")
        assert (health.status_code, health.headers["cache-control"]) == (200, "no-store")
        assert health.json() == {"status": "UP", "components": {"flaky-service": {"status": "UP", "details": {
            "service": FLAKY_SERVICE, "required": True,
            "endpoints": [{"target": backend.target, "status": "SERVING", "breaker": "closed"}]}}}}
        assert (await client.get("/actuator/health/readiness")).json()["status"] == "UP"

        await backend.set_serving(False)
        await wait_until(lambda: _status(client, "/actuator/health", 503), what="health DOWN")
        down = (await client.get("/actuator/health")).json()
        assert down["components"]["flaky-service"]["details"]["endpoints"][0]["status"] == "NOT_SERVING"
        readiness = await client.get("/actuator/health/readiness")
        assert readiness.status_code == 503
        assert readiness.json()["details"] == {"phase": "ready", "unavailable": ["flaky-service"]}
        assert (await client.get("/actuator/health/liveness")).json() == {"status": "UP"}  # never downstream

        await backend.set_serving(True)
        await wait_until(lambda: _status(client, "/actuator/health", 200), what="health UP again")


async def test_an_optional_service_does_not_take_readiness_down(gateway: Gateway, backend: FlakyBackend) -> None:
    async with gateway(required=False) as client:
        await backend.set_serving(False)
        await wait_until(lambda: _status(client, "/actuator/health", 503))
        assert (await client.get("/actuator/health/readiness")).status_code == 200


async def test_readiness_is_down_while_draining(gateway: Gateway) -> None:
    async with gateway() as client:
        client.app.state.lifecycle.drain()  # type: ignore[attr-defined]
        readiness = await client.get("/actuator/health/readiness")
        assert (readiness.status_code, readiness.json()["details"]["phase"]) == (503, "draining")
        assert (await client.get("/test/v1/flaky/k")).status_code == 200  # still serving


async def test_probes_need_no_token_and_meet_no_rate_limit(gateway: Gateway) -> None:
    async with gateway(RateLimitSettings(default="1/minute", routes={})) as client:
        for path in ("/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness") * 5:
            assert (await client.get(path)).status_code == 200
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness"} <= set(paths)


async def _status(client: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await client.get(path)).status_code == status
