"""The validate stage: a request breaking its contract's rules is a 400 with the violations, and no upstream call.

Real gRPC servers of the real contracts (`ContractBackend`) count the calls they receive: every
rule of every route's request message is broken once, and none of these requests reaches them.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
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
from tests.support.contract_backends import ContractBackend
from tests.support.http_errors import assert_error
from tests.support.http_server import serve
from tests.support.keys import SigningKey
from tests.support.violations import BAD_REQUEST_TYPE, http_violations

CREATE = "/api/v1/postcards/create"
VALID = {"mood": "calm", "style": "ink", "theme": "rain"}
LONG_ID = "x" * 65

# (method, path, JSON body or None, the field, the rule it breaks)
BROKEN: list[tuple[str, str, dict[str, Any] | None, str, str]] = [
    ("POST", "/api/v1/users/login", {"code": ""}, "code", "required"),
    ("POST", "/api/v1/users/login", {}, "code", "required"),
    ("POST", "/api/v1/users/login", {"code": " \t "}, "code", "string.pattern"),
    ("POST", "/api/v1/users/login", {"code": "x" * 257}, "code", "string.max_len"),
    ("POST", "/api/v1/users/login", {"code": "ab\u0000c"}, "code", "string.pattern"),
    ("POST", CREATE, {**VALID, "mood": ""}, "mood", "required"),
    ("POST", CREATE, {"style": "ink", "theme": "rain"}, "mood", "required"),
    ("POST", CREATE, {**VALID, "mood": "m" * 51}, "mood", "string.max_len"),
    ("POST", CREATE, {**VALID, "mood": "\u3000"}, "mood", "string.pattern"),
    ("POST", CREATE, {**VALID, "style": ""}, "style", "required"),
    ("POST", CREATE, {**VALID, "style": "s" * 51}, "style", "string.max_len"),
    ("POST", CREATE, {**VALID, "style": "two\nlines"}, "style", "string.pattern"),
    ("POST", CREATE, {**VALID, "theme": ""}, "theme", "required"),
    ("POST", CREATE, {**VALID, "theme": "t" * 201}, "theme", "string.max_len"),
    ("POST", CREATE, {**VALID, "theme": "\u0085"}, "theme", "string.pattern"),
    ("POST", CREATE, {**VALID, "recipient": "r" * 51}, "recipient", "string.max_len"),
    ("POST", CREATE, {**VALID, "recipient": "tab\there"}, "recipient", "string.pattern"),
    ("POST", CREATE, {**VALID, "message": "m" * 501}, "message", "string.max_len"),
    ("POST", CREATE, {**VALID, "message": "bell\u0007"}, "message", "string.pattern"),
    ("GET", f"/api/v1/postcards/status/{LONG_ID}", None, "task_id", "string.max_len"),
    ("GET", "/api/v1/postcards/status/%20%20", None, "task_id", "string.pattern"),
    ("GET", "/api/v1/postcards/status/a%01", None, "task_id", "string.pattern"),
    ("GET", f"/api/v1/postcards/{LONG_ID}", None, "postcard_id", "string.max_len"),
    ("GET", "/api/v1/postcards/%E3%80%80", None, "postcard_id", "string.pattern"),
    ("GET", f"/api/v1/postcards/{LONG_ID}/image", None, "postcard_id", "string.max_len"),
    ("GET", "/api/v1/postcards/x%09y/image", None, "postcard_id", "string.pattern"),
]


@pytest.fixture
async def backends() -> AsyncIterator[list[ContractBackend]]:
    async with ContractBackend("users", USER_SERVICE, {}) as users, \
            ContractBackend("postcards", POSTCARD_SERVICE, {}) as postcards:  # fmt: skip
        yield [users, postcards]


@pytest.fixture
async def client(backends: list[ContractBackend], tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    key = SigningKey()
    health = HealthCheckSettings(reconnect_initial_seconds=0.05)
    settings = Settings(
        auth=AuthSettings(jwks_path=key.write_jwks(tmp_path / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        upstreams={b.service: UpstreamSettings(endpoints=[b.target], health=health) for b in backends},
        rate_limit=RateLimitSettings(default="1000/second", routes={}),
    )
    async with serve(create_app(settings)) as base_url, httpx.AsyncClient(
        base_url=base_url, headers={"authorization": f"Bearer {key.token(sub='alice')}"}
    ) as http:
        yield http


async def test_every_rule_is_refused_without_an_upstream_call(
    client: httpx.AsyncClient, backends: list[ContractBackend]
) -> None:
    for method, path, body, field, rule in BROKEN:
        response = await client.request(method, path, json=body)

        error = assert_error(response, 400, "INVALID_ARGUMENT")
        assert http_violations({"error": error}) == [(field, rule)], (path, body, error)
        assert error["message"].startswith(f"{field}: "), error
    assert [b.calls.total() for b in backends] == [0, 0]

    # The counting is real: a request that keeps the rules is called.
    assert (await client.post(CREATE, json=VALID)).status_code == 202
    assert [b.calls["CreatePostcard"] for b in backends] == [0, 1]


async def test_the_details_name_every_violation(client: httpx.AsyncClient) -> None:
    response = await client.post(CREATE, json={"mood": "", "style": "s" * 51, "theme": "rain", "message": "\u0000"})

    error = assert_error(response, 400, "INVALID_ARGUMENT")
    assert error["message"] == "mood: value is required (and 2 more)"
    assert error["details"] == [{
        "@type": BAD_REQUEST_TYPE,
        "field_violations": [
            {"field": "mood", "description": "value is required", "reason": "required"},
            {"field": "style", "description": "must be at most 50 characters", "reason": "string.max_len"},
            {"field": "message", "description": error["details"][0]["field_violations"][2]["description"],
             "reason": "string.pattern"},
        ],
    }]  # fmt: skip
    assert error["details"][0]["field_violations"][2]["description"].startswith("does not match regex pattern")


async def test_rules_count_characters_not_bytes(client: httpx.AsyncClient, backends: list[ContractBackend]) -> None:
    body = {"mood": "喜" * 50, "style": "s", "theme": "海" * 200, "message": "愛\n" * 250}
    response = await client.post(CREATE, json=body)

    assert response.status_code == 202, response.text
    assert backends[1].calls["CreatePostcard"] == 1
