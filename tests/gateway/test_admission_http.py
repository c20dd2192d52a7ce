"""Admission control as a client meets it: the real postcard-service refusing creates, the gateway answering 429.

A postcard-service with small bounds (2 unfinished tasks per user, 3 in all) and no workers while
the queue fills; the gateway in front. Beyond a bound: 429 in the error shape with Retry-After from
the service's RetryInfo and the refusal's details. Such refusals are answers of a live service:
twenty of them leave the endpoint's breaker closed, nothing is retried. A worker pool then drains
the queue, and creates are accepted again.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import (
    POSTCARD_SERVICE,
    AuthSettings,
    BreakerSettings,
    HealthCheckSettings,
    RateLimitSettings,
    RetrySettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from services.common.sqlite import Database
from services.postcard.schema import ADDED_COLUMNS, SCHEMA
from services.postcard.server import create_server
from services.postcard.settings import PostcardServiceSettings, PostcardTlsSettings
from services.postcard.worker import create_worker_pool
from tests.support.grpc_services import started
from tests.support.http_errors import assert_error
from tests.support.http_server import serve
from tests.support.keys import SigningKey
from tests.support.pki import tls_settings
from tests.support.telemetry import counted
from tests.support.waiting import wait_until

CREATE = "/api/v1/postcards/create"
CARD = {"mood": "calm", "style": "ink", "theme": "rain"}


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def service_settings(tmp_path: Path, pki: Path, key: SigningKey) -> PostcardServiceSettings:
    return PostcardServiceSettings(
        port=0, grace_seconds=0.5, drain_seconds=0, db_path=tmp_path / "postcards.sqlite3",
        tls=tls_settings(pki, "postcard-service", PostcardTlsSettings),
        auth={"jwks_path": key.write_jwks(tmp_path / "jwks.json")},
        admission={"max_unfinished_per_user": 2, "max_queue_depth": 3, "retry_after_seconds": 2.5},
        worker={"embedded": False, "count": 2, "lease_seconds": 5, "poll_interval_seconds": 0.05},
        generator={"delay_seconds": 0.01},
    )  # fmt: skip


@pytest.fixture
async def client(
    service_settings: PostcardServiceSettings, tmp_path: Path, pki: Path, key: SigningKey
) -> AsyncIterator[httpx.AsyncClient]:
    async with started(create_server, service_settings) as (_, port, _channel):
        settings = Settings(
            auth=AuthSettings(jwks_path=tmp_path / "jwks.json"),
            upstream_tls=tls_settings(pki, "gateway", UpstreamTlsSettings),
            upstreams={POSTCARD_SERVICE: UpstreamSettings(
                endpoints=[f"127.0.0.1:{port}"], health=HealthCheckSettings(reconnect_initial_seconds=0.05),
                breaker=BreakerSettings(failure_threshold=5), retry=RetrySettings(budget_ratio=1.0),
            )},
            rate_limit=RateLimitSettings(default="1000/second", routes={}),
        )  # fmt: skip
        async with serve(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            http.key = key  # type: ignore[attr-defined]
            yield http


def as_user(client: httpx.AsyncClient, user: str) -> dict[str, str]:
    return {"authorization": f"Bearer {client.key.token(sub=user)}"}  # type: ignore[attr-defined]


async def test_bounds_are_429_with_retry_after_and_the_system_drains(
    client: httpx.AsyncClient, service_settings: PostcardServiceSettings
) -> None:
    tasks = []
    for user in ("alice", "alice", "bob"):
        response = await client.post(CREATE, json=CARD, headers=as_user(client, user))
        assert response.status_code == 202, response.text
        tasks.append((user, response.json()["task_id"]))

    for user, reason in [("alice", "TOO_MANY_UNFINISHED_TASKS"), ("carol", "QUEUE_FULL")]:
        response = await client.post(CREATE, json=CARD, headers=as_user(client, user))
        error = assert_error(response, 429, "RESOURCE_EXHAUSTED")
        assert response.headers["retry-after"] == "3"  # the service's RetryInfo (2.5 s), in whole seconds
        assert "at most" in error["message"]
        types = [detail["@type"].rsplit(".", 1)[1] for detail in error["details"]]
        assert types == ["RetryInfo", "QuotaFailure", "ErrorInfo"]
        assert error["details"][2]["reason"] == reason

    workers = create_worker_pool(service_settings, Database(service_settings.db_path, SCHEMA,
                                                            added_columns=ADDED_COLUMNS))
    await workers.start()
    try:
        async def all_done() -> bool:
            for user, task in tasks:
                status = await client.get(f"/api/v1/postcards/status/{task}", headers=as_user(client, user))
                if status.json()["status"] != "completed":
                    return False
            return True

        await wait_until(all_done, 30, "the queued postcards were made")
        assert (await client.post(CREATE, json=CARD, headers=as_user(client, "carol"))).status_code == 202
    finally:
        await workers.stop(1)


async def test_twenty_refusals_leave_the_breaker_closed_and_are_not_retried(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await client.post(CREATE, json=CARD, headers=as_user(client, "alice"))).status_code == 202

    for _ in range(20):
        response = await client.post(CREATE, json=CARD, headers={**as_user(client, "alice"), "idempotency-key": "x"})
        assert response.status_code == 429  # a key makes a create safe to repeat: still one try each

    health = (await client.get("/actuator/health")).json()
    [endpoint] = health["components"]["postcard-service"]["details"]["endpoints"]
    assert endpoint["breaker"] == "closed"
    metrics = (await client.get("/actuator/prometheus")).text
    calls = counted(metrics, "gateway_upstream_calls_total", service=POSTCARD_SERVICE, method="CreatePostcard",
                    endpoint=endpoint["target"], code="RESOURCE_EXHAUSTED")
    assert calls == 20  # one try each
    assert counted(metrics, "gateway_upstream_retries_total", service=POSTCARD_SERVICE, method="CreatePostcard") == 0
    # Other callers and methods are served all along.
    assert (await client.post(CREATE, json=CARD, headers=as_user(client, "bob"))).status_code == 202
    assert (await client.get("/api/v1/postcards/me", headers=as_user(client, "alice"))).status_code == 200
