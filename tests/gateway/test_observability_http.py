"""Observability of the gateway over real HTTP: request id end to end, access lines, metrics, traces, CORS.

A real gateway (the production server configuration) in front of real gRPC
backends of the test-only FlakyService.
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
import pytest
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import create_app
from gateway.settings import (
    AuthSettings,
    ContractSettings,
    HealthCheckSettings,
    HttpSettings,
    RateLimitSettings,
    RetrySettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from telemetry.logs import RequestContextFilter, configure_logging
from tests.support.flaky_server import FLAKY_MODULE, FLAKY_SERVICE, FlakyBackend
from tests.support.http_server import serve
from tests.support.keys import SigningKey
from tests.support.telemetry import MemoryTracing

UNLIMITED = RateLimitSettings(default="1000/second", routes={}, auth_failures="1000/second")


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@asynccontextmanager
async def gateway_of(
    backends: list[FlakyBackend], key: SigningKey, folder: Path, *, tracer_provider: TracerProvider | None = None,
    http: HttpSettings | None = None, rate_limit: RateLimitSettings = UNLIMITED,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        http=http or HttpSettings(),
        auth=AuthSettings(jwks_path=key.write_jwks(folder / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        contracts=ContractSettings(modules=[FLAKY_MODULE]),
        upstreams={FLAKY_SERVICE: UpstreamSettings(
            endpoints=[b.target for b in backends], health=HealthCheckSettings(reconnect_initial_seconds=0.05),
            retry=RetrySettings(budget_ratio=1.0),
        )},
        rate_limit=rate_limit,
    )
    app = create_app(settings, tracer_provider=tracer_provider)
    async with serve(app, settings.http) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """The access records, with the request id and trace id the JSON handler would add."""
    caplog.handler.addFilter(RequestContextFilter())
    caplog.set_level(logging.DEBUG, logger="gateway.access")
    records: list[logging.LogRecord] = []
    yield records
    records.extend(r for r in caplog.records if r.name == "gateway.access")


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.access"]


async def test_request_id_is_echoed_sent_downstream_on_every_try_and_logged(
    backends: list[FlakyBackend], key: SigningKey, tmp_path: Path, caplog: pytest.LogCaptureFixture, access: Any
) -> None:
    a, b = backends
    a.fail_with = grpc.StatusCode.UNAVAILABLE  # some calls land on a first and are retried on b
    async with gateway_of(backends, key, tmp_path) as client:
        for n in range(20):
            response = await client.get("/test/v1/flaky/k", headers={"x-request-id": f"req-{n}"})
            assert (response.status_code, response.headers["x-request-id"]) == (200, f"req-{n}")
        seen_by_a = {m["x-request-id"] for m in a.received_metadata}
        seen_by_b = {m["x-request-id"] for m in b.received_metadata}
        assert seen_by_a and seen_by_a <= seen_by_b  # a retried call carries the same id to the other endpoint
        assert seen_by_b == {f"req-{n}" for n in range(20)}

        odd = await client.get("/test/v1/flaky/k", headers={"x-request-id": "no spaces allowed"})
        generated = odd.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        assert b.received_metadata[-1]["x-request-id"] == generated
    lines = access_records(caplog)
    assert [r.request_id for r in lines] == [*(f"req-{n}" for n in range(20)), generated]


async def test_one_access_line_per_request_with_the_route_template(
    backends: list[FlakyBackend], key: SigningKey, tmp_path: Path, caplog: pytest.LogCaptureFixture, access: Any
) -> None:
    async with gateway_of(backends[:1], key, tmp_path) as client:
        await client.get("/test/v1/flaky/some-id-123")
        await client.get("/test/v1/flaky/mine", headers={"authorization": f"Bearer {key.token(sub='alice')}"})
        await client.get("/test/v1/flaky/mine")
        await client.get("/no/such/path")
        await client.get("/actuator/health/liveness")
    lines = access_records(caplog)
    assert [(r.method, r.route, r.status) for r in lines] == [
        ("GET", "/test/v1/flaky/{key}", 200),
        ("GET", "/test/v1/flaky/mine", 200),
        ("GET", "/test/v1/flaky/mine", 401),
        ("GET", "unmatched", 404),
        ("GET", "/actuator/health/liveness", 200),
    ]
    first, mine, refused = lines[0], lines[1], lines[2]
    assert (first.upstream, first.grpc_code, first.user_id) == (backends[0].target, "OK", None)
    assert (mine.user_id, mine.grpc_code) == ("alice", "OK")
    assert (refused.user_id, refused.upstream, refused.grpc_code) == (None, None, "UNAUTHENTICATED")
    assert all(r.duration_ms > 0 for r in lines)
    assert lines[-1].levelno == logging.DEBUG  # probes do not drown the access log


async def test_tokens_never_reach_the_logs(backends: list[FlakyBackend], key: SigningKey, tmp_path: Path) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("gateway", "DEBUG")
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    token = key.token(sub="alice")
    forged = SigningKey(kid=key.kid).token(sub="alice")
    try:
        async with gateway_of(backends[:1], key, tmp_path) as client:
            for value in (f"Bearer {token}", f"Bearer {forged}", f"Bearer {token}x", "Basic dXNlcjpwYXNz"):
                await client.get("/test/v1/flaky/mine", headers={"authorization": value})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    text = stream.getvalue()
    assert '"message":"access"' in text  # the log was written ...
    for secret in (token, forged, token.split(".")[1], forged.split(".")[2], "dXNlcjpwYXNz"):
        assert secret not in text  # ... without any credential in it


async def test_metrics_by_route_template_with_bounded_labels(
    backends: list[FlakyBackend], key: SigningKey, tmp_path: Path
) -> None:
    a, _ = backends
    async with gateway_of(backends[:1], key, tmp_path, rate_limit=RateLimitSettings(
        # the moving window refuses the second Write wherever the test falls in a clock minute
        strategy="moving-window", default="1000/second", routes={f"{FLAKY_SERVICE}.Write": "1/minute"}
    )) as client:
        alice = {"authorization": f"Bearer {key.token(sub='alice')}"}
        await client.get("/test/v1/flaky/mine", headers=alice)
        a.fail_with = grpc.StatusCode.UNAVAILABLE
        assert (await client.get("/test/v1/flaky/mine", headers=alice)).headers["x-fallback"] == "cache"
        a.fail_with = None
        await client.get("/test/v1/flaky/mine", headers={"authorization": "Bearer x.y.z"})
        await client.post("/test/v1/flaky/k", json={})
        await client.post("/test/v1/flaky/k", json={})  # over the limit

        for n in range(10):  # the route's series exist (and the scrape's own) ...
            await client.get(f"/test/v1/flaky/warm-{n}")
        await client.get("/actuator/prometheus")
        before = series((await client.get("/actuator/prometheus")).text)
        for n in range(1000):  # ... and 1,000 more ids add none
            await client.get(f"/test/v1/flaky/id-{n}")
        text = (await client.get("/actuator/prometheus")).text
    assert series(text) == before
    assert value(text, "gateway_http_requests_total", route="/test/v1/flaky/{key}", method="GET", status="200") == 1010
    assert value(text, "gateway_upstream_calls_total", endpoint=a.target, code="UNAVAILABLE") >= 1
    assert value(text, "gateway_fallbacks_total", route="/test/v1/flaky/mine", source="cache") == 1
    assert value(text, "gateway_jwt_failures_total", reason="malformed_token") == 1
    assert value(text, "gateway_rate_limited_total", route="/test/v1/flaky/{key}", limit="route") == 1
    assert value(text, "gateway_circuit_breaker_state", endpoint=a.target) == 0
    assert value(text, "gateway_upstream_endpoint_health", endpoint=a.target, status="SERVING") == 1
    assert value(text, "gateway_upstream_endpoint_health", endpoint=a.target, status="NOT_SERVING") == 0
    assert 'gateway_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/test/v1/flaky/{key}"}' in text
    assert "id-7" not in text and "warm-" not in text


def series(text: str) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} with {labels} in:\n{text}")


async def test_one_trace_from_the_caller_through_the_gateway_into_the_service(
    flaky_catalog: object, key: SigningKey, tmp_path: Path, caplog: pytest.LogCaptureFixture, access: Any
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The health service's Watch writes with context.write, which the interceptor cannot wrap: left out.
    untraced_health = filters.negate(filters.service_name("grpc.health.v1.Health"))
    backend = FlakyBackend("traced", interceptors=[aio_server_interceptor(tracer_provider=provider,
                                                                          filter_=untraced_health)])
    await backend.start()
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with gateway_of([backend], key, tmp_path, tracer_provider=provider) as client:
            response = await client.get("/test/v1/flaky/k", headers={
                "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01", "x-request-id": "traced-1"
            })
            assert response.status_code == 200
    finally:
        await backend.stop(0)
    spans = exporter.get_finished_spans()
    assert {format(span.context.trace_id, "032x") for span in spans} == {caller_trace}  # one trace
    (server,) = [s for s in spans if s.name == "GET /test/v1/flaky/{key}"]
    (client_span,) = [s for s in spans if s.kind.name == "CLIENT"]
    (backend_span,) = [s for s in spans if s.kind.name == "SERVER" and s is not server]
    # caller -> gateway's HTTP span -> gateway's gRPC client span -> the service's span
    assert server.parent is not None and format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert client_span.parent is not None and client_span.parent.span_id == server.context.span_id
    assert backend_span.parent is not None and backend_span.parent.span_id == client_span.context.span_id
    assert client_span.name == backend_span.name == f"/{FLAKY_SERVICE}/Read"
    assert server.attributes["http.response.status_code"] == 200
    line = access_records(caplog)[0]
    assert (line.request_id, line.trace_id) == ("traced-1", caller_trace)


async def test_routes_fastapi_serves_have_the_same_server_span_and_an_unmatched_path_a_bounded_name(
    backends: list[FlakyBackend], key: SigningKey, tmp_path: Path
) -> None:
    tracing = MemoryTracing()
    async with gateway_of(backends[:1], key, tmp_path, tracer_provider=tracing.provider) as client:
        assert (await client.get("/actuator/health/liveness")).status_code == 200
        assert (await client.get("/no/such/place/4711")).status_code == 404
    live, unmatched = tracing.exporter.get_finished_spans()
    assert live.name == "GET /actuator/health/liveness"
    assert dict(live.attributes or {}) == {"http.request.method": "GET", "url.path": "/actuator/health/liveness",
                                           "http.route": "/actuator/health/liveness",
                                           "http.response.status_code": 200}
    # No route: the method alone names it (a raw path would be one span name per URL); the path is an attribute.
    assert unmatched.name == "GET" and "http.route" not in (unmatched.attributes or {})
    assert (unmatched.attributes or {})["url.path"] == "/no/such/place/4711"
    assert (unmatched.attributes or {})["http.response.status_code"] == 404


async def test_without_tracing_the_callers_traceparent_still_reaches_the_service(
    backends: list[FlakyBackend], key: SigningKey, tmp_path: Path
) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with gateway_of(backends[:1], key, tmp_path) as client:
        await client.get("/test/v1/flaky/k", headers={"traceparent": traceparent})
    assert backends[0].received_metadata[-1]["traceparent"] == traceparent


@pytest.mark.parametrize(
    ("origin", "allowed"), [("https://app.example", True), ("https://evil.example", False)]
)
async def test_cors_on_contract_routes(
    backends: list[FlakyBackend], key: SigningKey, tmp_path: Path, origin: str, allowed: bool
) -> None:
    http = HttpSettings(cors_origins=["https://app.example"])
    async with gateway_of(backends[:1], key, tmp_path, http=http) as client:
        response = await client.get("/test/v1/flaky/k", headers={"origin": origin})
        assert response.status_code == 200
        assert response.headers.get("access-control-allow-origin") == (origin if allowed else None)
        assert "Origin" in response.headers["vary"]
        assert "x-request-id" in response.headers.get("access-control-expose-headers", "x-request-id")
        preflight = await client.options("/test/v1/flaky/k", headers={
            "origin": origin, "access-control-request-method": "GET"})
        assert preflight.status_code == (200 if allowed else 403)
        if not allowed:
            assert orjson.loads(preflight.content)["error"]["status"] == "PERMISSION_DENIED"
