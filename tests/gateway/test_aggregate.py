"""GET /api/v1/home over HTTP against real gRPC servers of the real contracts whose failures the test controls.

What the whole system answers (ownership, real services) is in tests/e2e/test_home.py.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import jsonschema_rs
import pytest
import schemathesis
from google.protobuf import json_format, timestamp_pb2

from gateway.app import create_app
from gateway.routes.table import RouteTableError
from gateway.settings import (
    POSTCARD_SERVICE,
    USER_SERVICE,
    AuthSettings,
    HealthCheckSettings,
    RateLimitSettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from postcardapp.postcard.v1 import postcard_service_pb2 as postcard_pb2
from postcardapp.user.v1 import user_service_pb2 as user_pb2
from tests.support.contract_backends import ContractBackend
from tests.support.http_errors import assert_error
from tests.support.http_server import serve
from tests.support.keys import SigningKey
from tests.support.telemetry import MemoryTracing, captured_logs
from tests.support.waiting import wait_until

HOME = "/api/v1/home"
UNLIMITED = RateLimitSettings(default="1000/second", routes={})
PROFILE = user_pb2.GetMeResponse(user_id="alice", nickname="Alice", created_at=timestamp_pb2.Timestamp(seconds=1))
# Newest first, as the postcard-service lists them.
POSTCARDS = postcard_pb2.ListMyPostcardsResponse(postcards=[
    postcard_pb2.PostcardSummary(postcard_id=f"card-{i}", image_url=f"/api/v1/postcards/card-{i}/image",
                                 mood="calm", created_at=timestamp_pb2.Timestamp(seconds=100 - i))
    for i in range(7)
])
Gateway = Callable[..., Any]


def as_json(message: Any) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


SUMMARIES = [as_json(p) for p in POSTCARDS.postcards]


@pytest.fixture
async def users() -> AsyncIterator[ContractBackend]:
    async with ContractBackend("users", USER_SERVICE, {"GetMe": PROFILE}) as backend:
        yield backend


@pytest.fixture
async def postcards() -> AsyncIterator[ContractBackend]:
    async with ContractBackend("postcards", POSTCARD_SERVICE, {"ListMyPostcards": POSTCARDS}) as backend:
        yield backend


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


def settings(key: SigningKey, tmp_path: Path, targets: dict[str, str], rate_limit: RateLimitSettings) -> Settings:
    health = HealthCheckSettings(reconnect_initial_seconds=0.05)
    return Settings(
        auth=AuthSettings(jwks_path=key.write_jwks(tmp_path / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        upstreams={service: UpstreamSettings(endpoints=[target], health=health) for service, target in targets.items()},
        rate_limit=rate_limit,
    )


@pytest.fixture
def gateway(users: ContractBackend, postcards: ContractBackend, key: SigningKey, tmp_path: Path) -> Gateway:
    @asynccontextmanager
    async def running(rate_limit: RateLimitSettings = UNLIMITED) -> AsyncIterator[httpx.AsyncClient]:
        targets = {USER_SERVICE: users.target, POSTCARD_SERVICE: postcards.target}
        app = create_app(settings(key, tmp_path, targets, rate_limit))
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            client.app = app  # type: ignore[attr-defined]  # for the tests that look inside
            yield client

    return running


def bearer(key: SigningKey, user: str = "alice") -> dict[str, str]:
    return {"authorization": f"Bearer {key.token(sub=user)}"}


# --- success ------------------------------------------------------------------------------------------------


async def test_home_is_the_profile_and_the_newest_postcards(gateway: Gateway, key: SigningKey) -> None:
    async with gateway() as client:
        response = await client.get(HOME, headers=bearer(key))
        assert response.status_code == 200, response.text
        assert response.json() == {"user": as_json(PROFILE), "recent_postcards": SUMMARIES[:5], "errors": []}
        assert response.json()["user"]["created_at"] == "1970-01-01T00:00:01Z"  # proto3 JSON, as the contract routes
        # The headers of an authenticated contract route.
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"]
        assert "x-fallback" not in response.headers

        for limit, expected in [("1", SUMMARIES[:1]), ("2", SUMMARIES[:2]), ("20", SUMMARIES)]:
            limited = await client.get(HOME, params={"limit": limit}, headers=bearer(key))
            assert limited.json()["recent_postcards"] == expected, limit


@pytest.mark.parametrize("value", ["0", "21", "-1", "abc", "", "2.5", "99999999999999999999"])
async def test_a_bad_limit_is_a_400_in_the_error_shape(
    gateway: Gateway, key: SigningKey, users: ContractBackend, postcards: ContractBackend, value: str
) -> None:
    async with gateway() as client:
        error = assert_error(await client.get(HOME, params={"limit": value}, headers=bearer(key)), 400,
                             "INVALID_ARGUMENT")
        assert "limit" in error["message"]
    assert users.calls.total() == postcards.calls.total() == 0


async def test_an_unknown_query_parameter_is_a_400_naming_it(gateway: Gateway, key: SigningKey) -> None:
    async with gateway() as client:
        error = assert_error(await client.get(HOME, params={"limt": "3"}, headers=bearer(key)), 400,
                             "INVALID_ARGUMENT")
        assert error["message"] == 'unknown query parameter "limt"'  # as on contract routes


async def test_no_token_is_a_401_before_anything_else(
    gateway: Gateway, users: ContractBackend, postcards: ContractBackend
) -> None:
    async with gateway() as client:
        for params in [{}, {"limit": "0"}, {"nope": "1"}]:  # authentication comes first, as on contract routes
            response = await client.get(HOME, params=params)
            assert_error(response, 401, "UNAUTHENTICATED")
            assert response.headers["www-authenticate"] == "Bearer"
        forged = {"authorization": f"Bearer {SigningKey(kid='other').token(sub='alice')}"}
        assert_error(await client.get(HOME, headers=forged), 401, "UNAUTHENTICATED")
    assert users.calls.total() == postcards.calls.total() == 0


# --- partial failure ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL,
                                  grpc.StatusCode.RESOURCE_EXHAUSTED])
async def test_user_part_down_is_null_and_named(
    gateway: Gateway, key: SigningKey, users: ContractBackend, code: grpc.StatusCode
) -> None:
    async with gateway() as client:
        users.fail_with = code
        response = await client.get(HOME, headers=bearer(key))
        assert response.status_code == 200, response.text
        assert response.json() == {
            "user": None, "recent_postcards": SUMMARIES[:5], "errors": [{"part": "user", "status": code.name}]
        }
        assert users.calls["GetMe"] == 1


async def test_user_part_with_no_healthy_endpoint_is_null_and_named(
    gateway: Gateway, key: SigningKey, users: ContractBackend
) -> None:
    async with gateway() as client:
        await users.set_serving(False)
        pool = client.app.state.upstream.pools[USER_SERVICE]  # type: ignore[attr-defined]
        await wait_until(lambda: pool.endpoints[0].status == "NOT_SERVING")
        response = await client.get(HOME, headers=bearer(key))
        assert (response.status_code, response.json()["user"], response.json()["errors"]) == (
            200, None, [{"part": "user", "status": "UNAVAILABLE"}]
        )
        assert users.calls["GetMe"] == 0  # no call made: the part failed at once


async def test_postcard_part_down_is_the_callers_last_list_else_empty(
    gateway: Gateway, key: SigningKey, postcards: ContractBackend
) -> None:
    async with gateway() as client:
        assert (await client.get(HOME, headers=bearer(key, "alice"))).json()["errors"] == []

        postcards.fail_with = grpc.StatusCode.INTERNAL
        cached = await client.get(HOME, params={"limit": "3"}, headers=bearer(key, "alice"))
        assert cached.status_code == 200, cached.text
        assert cached.json() == {
            "user": as_json(PROFILE),
            "recent_postcards": SUMMARIES[:3],  # alice's last list, cut to this request's limit
            "errors": [{"part": "recent_postcards", "status": "INTERNAL"}],  # the cause, not "cache"
        }
        empty = await client.get(HOME, headers=bearer(key, "bob"))  # bob has no list on record: never alice's
        assert empty.json() == {
            "user": as_json(PROFILE), "recent_postcards": [], "errors": [{"part": "recent_postcards",
                                                                          "status": "INTERNAL"}],
        }


async def test_the_contract_route_and_home_share_the_callers_fallback(
    gateway: Gateway, key: SigningKey, postcards: ContractBackend
) -> None:
    async with gateway() as client:
        assert (await client.get("/api/v1/postcards/me", headers=bearer(key, "alice"))).json() == SUMMARIES
        assert (await client.get(HOME, headers=bearer(key, "bob"))).json()["errors"] == []
        postcards.fail_with = grpc.StatusCode.UNAVAILABLE
        body = (await client.get(HOME, headers=bearer(key, "alice"))).json()
        assert (body["recent_postcards"], body["errors"]) == (
            SUMMARIES[:5], [{"part": "recent_postcards", "status": "UNAVAILABLE"}]
        )
        mine = await client.get("/api/v1/postcards/me", headers=bearer(key, "bob"))
        assert (mine.json(), mine.headers["x-fallback"]) == (SUMMARIES, "cache")  # the whole list home saw


async def test_every_part_down_is_503_even_with_a_fallback(
    gateway: Gateway, key: SigningKey, users: ContractBackend, postcards: ContractBackend
) -> None:
    async with gateway() as client:
        assert (await client.get(HOME, headers=bearer(key))).status_code == 200  # alice's list is now cached
        users.fail_with = grpc.StatusCode.UNAVAILABLE
        postcards.fail_with = grpc.StatusCode.UNAVAILABLE
        for user in ("alice", "bob"):  # with a cached list, and with none
            response = await client.get(HOME, headers=bearer(key, user))
            error = assert_error(response, 503, "UNAVAILABLE")
            assert error["message"] == (
                "no part of the answer is available: user (UNAVAILABLE), recent_postcards (UNAVAILABLE)"
            )
            assert response.headers["retry-after"] == "1"  # the services' Retry-After (retry_after_seconds)
            assert response.headers["x-request-id"]


async def test_every_part_down_without_a_retry_after_still_says_when_to_come_back(
    gateway: Gateway, key: SigningKey, users: ContractBackend, postcards: ContractBackend
) -> None:
    async with gateway() as client:
        users.fail_with = grpc.StatusCode.INTERNAL
        postcards.fail_with = grpc.StatusCode.DEADLINE_EXCEEDED
        response = await client.get(HOME, headers=bearer(key))
        assert_error(response, 503, "UNAVAILABLE")
        assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize(("failing", "code", "status"), [
    ("users", grpc.StatusCode.NOT_FOUND, 404),
    ("users", grpc.StatusCode.UNAUTHENTICATED, 401),
    ("postcards", grpc.StatusCode.PERMISSION_DENIED, 403),
    ("postcards", grpc.StatusCode.INVALID_ARGUMENT, 400),
])
async def test_a_client_error_of_one_part_is_the_answer_and_cancels_the_other(
    gateway: Gateway, key: SigningKey, users: ContractBackend, postcards: ContractBackend,
    failing: str, code: grpc.StatusCode, status: int,
) -> None:
    bad, other = (users, postcards) if failing == "users" else (postcards, users)
    bad.fail_with = code
    bad.hold, other.hold = asyncio.Event(), asyncio.Event()
    async with gateway() as client:
        answer = asyncio.create_task(client.get(HOME, headers=bearer(key)))
        await wait_until(lambda: users.calls.total() == postcards.calls.total() == 1, what="both parts called")
        bad.hold.set()  # only the failing part answers; the other is still held
        assert_error(await answer, status, code.name)
        await wait_until(lambda: other.cancelled.total() == 1, what="the other part cancelled")


# --- concurrency, request id, rate limit ---------------------------------------------------------------------


async def test_the_parts_run_at_the_same_time(
    gateway: Gateway, key: SigningKey, users: ContractBackend, postcards: ContractBackend
) -> None:
    """Both backends hold their call until both have received theirs: had the parts run one after the
    other, the second call would never arrive while the first is held (total latency: the slowest part)."""
    release = asyncio.Event()
    users.hold = postcards.hold = release
    async with gateway() as client:
        answer = asyncio.create_task(client.get(HOME, headers=bearer(key)))
        await wait_until(lambda: users.calls["GetMe"] == postcards.calls["ListMyPostcards"] == 1,
                         what="both calls received while neither has answered")
        assert not answer.done()
        release.set()
        response = await answer
        assert (response.status_code, response.json()["errors"]) == (200, [])


async def test_request_id_and_identity_reach_both_backends_and_the_access_line(
    gateway: Gateway, key: SigningKey, users: ContractBackend, postcards: ContractBackend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    async with gateway() as client:
        headers = {**bearer(key, "alice"), "x-request-id": "home-req-42", "x-user-id": "mallory"}
        response = await client.get(HOME, headers=headers)
        assert response.headers["x-request-id"] == "home-req-42"
    for backend in (users, postcards):
        (metadata,) = backend.received_metadata
        assert metadata["x-request-id"] == "home-req-42", backend.name
        assert metadata["authorization"] == headers["authorization"], backend.name
        assert "x-user-id" not in metadata, backend.name
    (line,) = [r for r in caplog.records if r.name == "gateway.access" and r.__dict__["route"] == HOME]
    assert (line.__dict__["status"], line.__dict__["user_id"]) == (200, "alice")


async def test_one_trace_through_home_into_both_services_and_no_baggage_crosses(
    users: ContractBackend, postcards: ContractBackend, key: SigningKey, tmp_path: Path,
) -> None:
    tracing = MemoryTracing()
    targets = {USER_SERVICE: users.target, POSTCARD_SERVICE: postcards.target}
    app = create_app(settings(key, tmp_path, targets, UNLIMITED), tracer_provider=tracing.provider)
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with captured_logs() as logs:
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            response = await client.get(HOME, headers={
                **bearer(key), "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01", "baggage": "tenant=secret",
            })
            assert response.status_code == 200
    spans = tracing.exporter.get_finished_spans()
    assert {format(span.context.trace_id, "032x") for span in spans} == {caller_trace}
    (server,) = [s for s in spans if s.kind.name == "SERVER"]
    # The contract routes' span: the same name, attributes and parent, from the same stage.
    assert server.name == f"GET {HOME}"
    assert dict(server.attributes or {}) == {"http.request.method": "GET", "url.path": HOME, "http.route": HOME,
                                             "http.response.status_code": 200}
    assert server.parent is not None and format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    clients = {s.name: s for s in spans if s.kind.name == "CLIENT"}
    assert set(clients) == {f"/{USER_SERVICE}/GetMe", f"/{POSTCARD_SERVICE}/ListMyPostcards"}
    assert all(s.parent is not None and s.parent.span_id == server.context.span_id for s in clients.values())
    assert len(spans) == 3  # no "http send" / "http receive" spans
    for backend in (users, postcards):
        (metadata,) = backend.received_metadata
        assert metadata["traceparent"].split("-")[1] == caller_trace, backend.name
        assert "baggage" not in metadata, backend.name  # the header allow-list's rule, as on contract routes
    (line,) = logs.find("access", route=HOME)
    assert line.__dict__["trace_id"] == caller_trace


async def test_the_route_has_its_own_rate_limit(gateway: Gateway, key: SigningKey) -> None:
    # The moving window starts at the first hit: the count does not depend on where the test falls in a minute.
    limits = RateLimitSettings(strategy="moving-window", default="1000/second", routes={"gateway.Home": "2/minute"})
    async with gateway(limits) as client:
        assert [(await client.get(HOME, headers=bearer(key))).status_code for _ in range(2)] == [200, 200]
        refused = await client.get(HOME, headers=bearer(key))
        error = assert_error(refused, 429, "RESOURCE_EXHAUSTED")
        assert "2 per minute" in error["message"]
        assert (refused.headers["ratelimit-limit"], refused.headers["ratelimit-remaining"]) == ("2", "0")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
        assert (await client.get(HOME, headers=bearer(key, "bob"))).status_code == 200  # per caller
        assert (await client.get("/api/v1/users/me", headers=bearer(key))).status_code == 200  # per route


def test_rate_limit_names_are_checked_at_start_up(key: SigningKey, tmp_path: Path) -> None:
    targets = {USER_SERVICE: "127.0.0.1:1", POSTCARD_SERVICE: "127.0.0.1:2"}

    def start(routes: dict[str, str]) -> None:
        create_app(settings(key, tmp_path, targets, RateLimitSettings(routes=routes)))

    start({"gateway.Home": "5/second", f"{USER_SERVICE}.GetMe": "5/second", "other.v1.Service.Method": "1/second"})
    for typo in ("gateway.Hom", f"{USER_SERVICE}.GetMee"):
        with pytest.raises(RouteTableError, match=typo):
            start({typo: "5/second"})


# --- OpenAPI ------------------------------------------------------------------------------------------------


async def test_the_route_in_openapi(gateway: Gateway, key: SigningKey) -> None:
    async with gateway() as client:
        document = (await client.get("/openapi.json")).json()
        body = (await client.get(HOME, headers=bearer(key))).json()
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema, the route included
    assert list(document["paths"][HOME]) == ["get"]  # HEAD is answered, as on every GET route, not documented
    operation = document["paths"][HOME]["get"]
    assert operation["operationId"] == "gateway_Home"
    assert operation["security"] == [{"bearerAuth": []}]
    assert "bearerAuth" in document["components"]["securitySchemes"]
    assert operation["x-grpc-methods"] == [f"/{USER_SERVICE}/GetMe", f"/{POSTCARD_SERVICE}/ListMyPostcards"]
    (limit,) = operation["parameters"]
    assert (limit["name"], limit["in"], limit["required"]) == ("limit", "query", False)
    assert {k: limit["schema"][k] for k in ("type", "minimum", "maximum", "default")} == {
        "type": "integer", "minimum": 1, "maximum": 20, "default": 5
    }
    responses = operation["responses"]
    assert "422" not in responses  # a bad value is a 400 in the common error shape
    for status, component in [("400", "BadRequest"), ("401", "Unauthorized"), ("429", "TooManyRequests"),
                              ("503", "ServiceUnavailable"), ("default", "Error")]:
        assert responses[status]["$ref"] == f"#/components/responses/{component}"
    # Every reference of the document resolves (the contract's components, by name) ...
    for target in _refs(document):
        assert _resolve(document, target) is not None, target
    # ... and what the route answers is valid by its documented schema.
    schema = responses["200"]["content"]["application/json"]["schema"]
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": document["components"], **schema}
    validator = jsonschema_rs.validator_for(root, validate_formats=True)
    assert validator.is_valid(body)
    assert validator.is_valid({"user": None, "recent_postcards": None, "errors": [{"part": "user",
                                                                                   "status": "UNAVAILABLE"}]})
    assert not validator.is_valid({"user": {"created_at": 5}, "recent_postcards": [], "errors": []})
    assert not validator.is_valid({"user": None, "recent_postcards": [{"mood": 1}], "errors": []})


def test_no_home_without_both_services(key: SigningKey, tmp_path: Path) -> None:
    app = create_app(settings(key, tmp_path, {USER_SERVICE: "127.0.0.1:1"}, UNLIMITED))
    assert HOME not in app.app.openapi()["paths"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for value in node.values() for r in _refs(value)]
    return [r for item in node for r in _refs(item)] if isinstance(node, list) else []


def _resolve(document: dict[str, Any], target: str) -> Any:
    node: Any = document
    for part in target.removeprefix("#/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node
