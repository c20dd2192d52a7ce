"""Bad input gets a clear 4xx in the common error shape, and nothing is created downstream."""
from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from tests.e2e.conftest import VALID_POSTCARD, System, bearer
from tests.support.raw_http import exchange, request_bytes

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
        ("DELETE", "/api/v1/home", 405, "GET, HEAD"),
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


# Forwarded headers with values gRPC metadata cannot carry (Starlette decodes header bytes as
# latin-1, so 0xE9 arrives as "é"). Headers only passed along are dropped and the request
# succeeds; a bad Idempotency-Key is a 400 naming the rule, and creates nothing; forwarded
# headers past the metadata budget together (as sent, dropped or not) are a 431.
KEY_RULE = "Idempotency-Key must be 1-200 printable ASCII characters (0x20-0x7E)"
BUDGET = ("the headers forwarded to the service (accept-language, authorization, idempotency-key, traceparent, "
          "tracestate) are larger than 6144 bytes together")
FORWARDED_HEADERS: list[tuple[str, list[tuple[str, bytes]], int, str | None]] = [
    ("latin-1 Accept-Language", [("accept-language", b"fr-FR,fr;q=0.9,\xe9")], 202, None),
    ("latin-1 traceparent", [("traceparent", b"00-\xe9")], 202, None),
    ("latin-1 tracestate", [("tracestate", b"vendor=\xff")], 202, None),
    ("UTF-8 Accept-Language", [("accept-language", "中文".encode())], 202, None),
    ("tab in tracestate", [("tracestate", b"a=1\tb=2")], 202, None),
    ("long Accept-Language", [("accept-language", b"a" * 300)], 202, None),
    ("metadata past the budget", [("accept-language", b"a" * 8000), ("tracestate", b"b" * 8000)], 431, BUDGET),
    ("two traceparents", [("traceparent", b"00-a"), ("traceparent", b"00-b")], 202, None),
    ("latin-1 Idempotency-Key", [("idempotency-key", b"key-\xe9")], 400, KEY_RULE),
    ("UTF-8 Idempotency-Key", [("idempotency-key", "键".encode())], 400, KEY_RULE),
    ("C1 control byte in Idempotency-Key", [("idempotency-key", b"key\x85")], 400, KEY_RULE),
    ("Idempotency-Key too long", [("idempotency-key", b"k" * 201)], 400, KEY_RULE + ", got 201"),
    ("blank Idempotency-Key", [("idempotency-key", b"   ")], 400, KEY_RULE),
    ("two Idempotency-Keys", [("idempotency-key", b"a"), ("idempotency-key", b"b")], 400,
     "send one Idempotency-Key header, not 2"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "status", "message"), [c[1:] for c in FORWARDED_HEADERS], ids=[c[0] for c in FORWARDED_HEADERS]
)
async def test_forwarded_header_values(
    system: System, headers: list[tuple[str, bytes]], status: int, message: str | None
) -> None:
    token = await system.login()
    tasks_before = system.count_rows("tasks")
    body = orjson.dumps(VALID_POSTCARD)
    request = request_bytes(
        "POST", "/api/v1/postcards/create",
        [("authorization", f"Bearer {token}"), ("content-type", "application/json"), *headers], body,
    )  # fmt: skip
    response = await exchange(system.base_url, request)
    assert response.status == status, response.body
    if message is None:
        assert system.count_rows("tasks") == tasks_before + 1
    else:
        grpc_status = "OUT_OF_RANGE" if status == 431 else "INVALID_ARGUMENT"
        assert response.json() == {"error": {"code": status, "status": grpc_status, "message": message,
                                              "details": []}}  # fmt: skip
        assert system.count_rows("tasks") == tasks_before


@pytest.mark.parametrize("header", [("accept-language", b"\xe9"), ("traceparent", b"\xe9"), ("tracestate", b"\xe9")])
async def test_pass_along_headers_on_a_public_route(system: System, header: tuple[str, bytes]) -> None:
    request = request_bytes("POST", "/api/v1/users/login", [("content-type", "application/json"), header],
                            b'{"code": "latin-1-header"}')  # fmt: skip
    assert (await exchange(system.base_url, request)).status == 200


async def test_idempotency_key_at_the_limit_is_used(system: System) -> None:
    token = await system.login()
    headers = {**bearer(token), "idempotency-key": "k" * 199 + "~"}
    first = await system.http.post("/api/v1/postcards/create", json=VALID_POSTCARD, headers=headers)
    again = await system.http.post("/api/v1/postcards/create", json=VALID_POSTCARD, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()


async def test_reused_idempotency_key_with_another_body_is_422(system: System) -> None:
    token = await system.login()
    headers = {**bearer(token), "idempotency-key": "reused-key"}
    first = await system.http.post("/api/v1/postcards/create", json=VALID_POSTCARD, headers=headers)
    assert first.status_code == 202
    tasks_before = system.count_rows("tasks")
    other = await system.http.post(
        "/api/v1/postcards/create", json={**VALID_POSTCARD, "theme": "something else"}, headers=headers
    )
    assert other.status_code == 422, other.text
    assert other.json() == {
        "error": {
            "code": 422,
            "status": "FAILED_PRECONDITION",
            "message": "idempotency-key was already used with a different request",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IDEMPOTENCY_KEY_REUSED",
                         "domain": "postcardapp"}],
        }
    }  # fmt: skip
    assert system.count_rows("tasks") == tasks_before


async def test_concurrent_duplicates_get_the_same_task_never_409(system: System) -> None:
    """The draft's 409 (first request still in flight) cannot arise: creation is one transaction."""
    token = await system.login()
    headers = {**bearer(token), "idempotency-key": "concurrent-key"}
    tasks_before = system.count_rows("tasks")
    responses = await asyncio.gather(
        *(system.http.post("/api/v1/postcards/create", json=VALID_POSTCARD, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["task_id"] for r in responses}) == 1
    assert system.count_rows("tasks") == tasks_before + 1


# Messages in the API's terms: the field path and what is wrong, never protobuf type names.
BAD_BODY_MESSAGES: list[tuple[str, Any, str]] = [
    ("unknown field", {**VALID_POSTCARD, "user_id": "someone-else"}, 'unknown field "user_id"'),
    ("unknown nested-looking field", {**VALID_POSTCARD, "meta": {"a": 1}}, 'unknown field "meta"'),
    ("number for a string", {**VALID_POSTCARD, "mood": 42}, 'invalid value for field "mood": not a string'),
    ("bool for a string", {**VALID_POSTCARD, "style": True}, 'invalid value for field "style": not a string'),
    ("object for a string", {**VALID_POSTCARD, "theme": {"a": 1}}, 'invalid value for field "theme": not a string'),
    ("array for a string", {**VALID_POSTCARD, "message": ["hi"]}, 'invalid value for field "message": not a string'),
    ("JSON name of an unknown field", {**VALID_POSTCARD, "userId": "x"}, 'unknown field "userId"'),
]


@pytest.mark.parametrize(
    ("body", "message"), [c[1:] for c in BAD_BODY_MESSAGES], ids=[c[0] for c in BAD_BODY_MESSAGES]
)
async def test_bad_body_messages_use_api_terms(system: System, body: Any, message: str) -> None:
    token = await system.login()
    tasks_before = system.count_rows("tasks")
    response = await system.http.post("/api/v1/postcards/create", json=body, headers=bearer(token))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["status"], error["message"]) == ("INVALID_ARGUMENT", message)
    assert "postcardapp." not in response.text and "Message type" not in response.text
    assert system.count_rows("tasks") == tasks_before


@pytest.mark.parametrize(
    "body", [{"code": "x", "extra": True}, {"code": 5}, {"code": ["x"]}, {"code": {"x": 1}}, {"code": None, "a": 1}]
)
async def test_bad_login_messages_use_api_terms(system: System, body: Any) -> None:
    response = await system.http.post("/api/v1/users/login", json=body)
    assert response.status_code == 400
    assert "postcardapp." not in response.text and "Message type" not in response.text
