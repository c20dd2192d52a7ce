"""The metadata budget over HTTP: an oversized set of forwarded headers is a 431 on every route, before any call;
with tracing on, a caller's trace context cannot inflate the metadata (what once was gRPC's own 429)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from gateway.app import create_app
from gateway.settings import (
    POSTCARD_SERVICE,
    USER_SERVICE,
    AuthSettings,
    ContractSettings,
    HealthCheckSettings,
    RateLimitSettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from gateway.transcode.headers import METADATA_BUDGET_BYTES, entry_size
from tests.support.contract_backends import ContractBackend
from tests.support.flaky_server import FLAKY_MODULE, FLAKY_SERVICE, FlakyBackend
from tests.support.http_errors import assert_error
from tests.support.http_server import serve
from tests.support.keys import SigningKey

UNLIMITED = RateLimitSettings(default="1000/second", routes={})
HEALTH = HealthCheckSettings(reconnect_initial_seconds=0.05)
# Every route that calls a service: the contract routes and the composed one.
ROUTES = [
    ("POST", "/api/v1/users/login", {"code": "wx-code"}),
    ("GET", "/api/v1/users/me", None),
    ("POST", "/api/v1/postcards/create", {"mood": "calm", "style": "ink", "theme": "rain"}),
    ("GET", "/api/v1/postcards/status/t1", None),
    ("GET", "/api/v1/postcards/me", None),
    ("GET", "/api/v1/postcards/p1", None),
    ("GET", "/api/v1/postcards/p1/image", None),
    ("GET", "/api/v1/home", None),
]
# Allow-listed headers, each within its own limit, adding up to more than the budget (and far less than
# the HTTP server's 32 KiB for all headers).
OVERSIZED = [("tracestate", f"k{i}=" + "v" * 490) for i in range(12)] + [("accept-language", "zh-CN," * 40)]


def test_the_oversized_set_is_over_the_budget_only_together() -> None:
    assert sum(entry_size(name, value) for name, value in OVERSIZED) > METADATA_BUDGET_BYTES
    assert all(len(value) <= 512 for _, value in OVERSIZED)


@pytest.fixture
async def backends() -> AsyncIterator[list[ContractBackend]]:
    async with ContractBackend("users", USER_SERVICE, {}) as users, \
            ContractBackend("postcards", POSTCARD_SERVICE, {}) as postcards:  # fmt: skip
        yield [users, postcards]


async def test_every_route_answers_431_without_calling(backends: list[ContractBackend], tmp_path: Path) -> None:
    key = SigningKey()
    settings = Settings(
        auth=AuthSettings(jwks_path=key.write_jwks(tmp_path / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        upstreams={b.service: UpstreamSettings(endpoints=[b.target], health=HEALTH) for b in backends},
        rate_limit=UNLIMITED,
    )
    token = ("authorization", f"Bearer {key.token(sub='alice')}")
    async with serve(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        for method, path, body in ROUTES:
            response = await client.request(method, path, json=body, headers=[token, *OVERSIZED])
            error = assert_error(response, 431, "OUT_OF_RANGE")
            assert f"larger than {METADATA_BUDGET_BYTES} bytes together" in error["message"], path
            assert "metadata size" not in error["message"]
        assert [b.calls.total() for b in backends] == [0, 0]

        for method, path, body in ROUTES:  # the same requests within the budget are called
            response = await client.request(method, path, json=body, headers=[token, *OVERSIZED[:3]])
            assert response.status_code < 500 and response.status_code != 431, (path, response.text)
        assert sum(b.calls.total() for b in backends) == len(ROUTES) + 1  # home calls both services


async def test_with_tracing_a_callers_trace_context_cannot_inflate_the_metadata(
    flaky_catalog: object, tmp_path: Path
) -> None:
    key = SigningKey()
    async with FlakyBackend("a") as backend:
        settings = Settings(
            auth=AuthSettings(jwks_path=key.write_jwks(tmp_path / "jwks.json")),
            upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
            contracts=ContractSettings(modules=[FLAKY_MODULE]),
            upstreams={FLAKY_SERVICE: UpstreamSettings(endpoints=[backend.target], health=HEALTH)},
            rate_limit=UNLIMITED,
        )
        app = create_app(settings, tracer_provider=TracerProvider())
        # Valid W3C values the tracing SDK keeps whole, and would have written into the call's metadata:
        # 10 kB together, past gRPC's 8 KiB. Baggage never crosses; this tracestate breaks its own rule.
        headers = {
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "tracestate": ",".join(f"k{i}=" + "v" * 240 for i in range(10)),
            "baggage": ",".join(f"k{i}=" + "v" * 200 for i in range(35)),
        }
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
            response = await client.get("/test/v1/flaky/abc", headers=headers)

        assert response.status_code == 200, response.text  # not gRPC's 429
        received = backend.received_metadata[0]
        assert "baggage" not in received and "tracestate" not in received  # over its 512-character rule
        assert received["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")  # the trace goes on
        assert sum(entry_size(name, value) for name, value in received.items()) < METADATA_BUDGET_BYTES
