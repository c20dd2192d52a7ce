"""Bad input gets a clear 4xx in the common error shape, and nothing is created downstream."""
from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import VALID_POSTCARD, System, bearer

pytestmark = pytest.mark.asyncio(loop_scope="package")

JSON = {"content-type": "application/json"}

BAD_CREATES: list[tuple[str, dict[str, Any], int, str]] = [
    ("malformed JSON", {"content": b'{"mood": "happy",', "headers": JSON}, 400, "INVALID_ARGUMENT"),
    ("not an object", {"content": b'["happy"]', "headers": JSON}, 400, "INVALID_ARGUMENT"),
    ("unknown field", {"json": {**VALID_POSTCARD, "user_id": "someone-else"}}, 400, "INVALID_ARGUMENT"),
    ("wrong type", {"json": {**VALID_POSTCARD, "mood": 42}}, 400, "INVALID_ARGUMENT"),
    ("null object field", {"json": {**VALID_POSTCARD, "theme": {"a": 1}}}, 400, "INVALID_ARGUMENT"),
    ("oversized body", {"json": {**VALID_POSTCARD, "message": "x" * 70_000}}, 413, "OUT_OF_RANGE"),
    ("wrong content type", {"content": b"mood=happy", "headers": {"content-type": "application/x-www-form-urlencoded"}},
     415, "INVALID_ARGUMENT"),
    ("no content type", {"content": b'{"mood": "happy"}', "headers": {"content-type": ""}}, 415, "INVALID_ARGUMENT"),
    ("empty required field", {"json": {**VALID_POSTCARD, "mood": ""}}, 400, "INVALID_ARGUMENT"),
    ("blank required field", {"json": {**VALID_POSTCARD, "style": "   "}}, 400, "INVALID_ARGUMENT"),
    ("missing required field", {"json": {"mood": "happy", "style": "ink"}}, 400, "INVALID_ARGUMENT"),
    ("too long field", {"json": {**VALID_POSTCARD, "theme": "t" * 10_000}}, 400, "INVALID_ARGUMENT"),
    ("empty body", {"content": b"", "headers": JSON}, 400, "INVALID_ARGUMENT"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "request_kwargs", "status", "grpc_status"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES]
)
async def test_bad_create_changes_nothing(
    system: System, case: str, request_kwargs: dict[str, Any], status: int, grpc_status: str
) -> None:
    token = await system.login()
    tasks_before = system.count_rows("tasks")
    headers = {**bearer(token), **request_kwargs.pop("headers", {})}
    response = await system.http.post("/api/v1/postcards/create", headers=headers, **request_kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, grpc_status)
    assert error["message"]
    assert system.count_rows("tasks") == tasks_before


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/api/v1/unknown", 404, None),
        ("DELETE", "/api/v1/postcards/me", 405, "GET, HEAD"),
        ("GET", "/api/v1/users/login", 405, "POST"),
        ("PATCH", "/openapi.json", 405, "GET, HEAD"),
    ],
)
async def test_routing_errors(system: System, method: str, path: str, status: int, allow: str | None) -> None:
    response = await system.http.request(method, path)
    assert response.status_code == status
    assert response.json()["error"]["code"] == status
    if allow:
        assert set(response.headers["allow"].split(", ")) == set(allow.split(", "))


@pytest.mark.parametrize(
    "body",
    [{"code": ""}, {"code": "   "}, {"code": 123}, {"code": "c" * 300}, {}, {"code": "x", "extra": True}],
)
async def test_bad_login(system: System, body: dict[str, Any]) -> None:
    response = await system.http.post("/api/v1/users/login", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
