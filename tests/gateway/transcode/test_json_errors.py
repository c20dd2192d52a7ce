"""Bad JSON bodies get messages in the API's terms: a field path and what is wrong, no protobuf names."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import GatewayError
from gateway.routes.router import Router
from gateway.routes.table import Route
from gateway.transcode.plan import build_plan
from gateway.transcode.request import build_request

# (case, body of POST /test/v1/echo/1:shout (EchoRequest), message)
BAD_BODIES: list[tuple[str, Any, str]] = [
    ("unknown field", {"user_id": "x"}, 'unknown field "user_id"'),
    ("unknown nested field", {"filter": {"foo": 1}}, 'unknown field "filter.foo"'),
    ("unknown field with odd characters", {'a" at "b': 1}, 'unknown field "a" at "b"'),
    ("unknown field, newline in name", {"a\nb": 1}, 'unknown field "a\nb"'),
    ("string for int", {"count": "abc"}, 'invalid value for field "count": not an integer'),
    ("fraction for int", {"count": 1.5}, 'invalid value for field "count": not an integer'),
    ("bool for int", {"count": True}, 'invalid value for field "count": not an integer'),
    ("int32 overflow", {"count": 2**40}, 'invalid value for field "count": integer out of range'),
    ("negative uint", {"small": -1}, 'invalid value for field "small": integer out of range'),
    ("number for string", {"text": 42}, 'invalid value for field "text": not a string'),
    ("object for string", {"text": {"a": 1}}, 'invalid value for field "text": not a string'),
    ("string for bool", {"loud": "yes"}, 'invalid value for field "loud": not a boolean (true or false)'),
    ("string for double", {"ratio": "x"}, 'invalid value for field "ratio": not a number'),
    ("unknown enum name", {"color": "COLOR_PURPLE"}, 'invalid value for field "color": not a known enum value'),
    ("bad timestamp", {"at": "yesterday"},
     'invalid value for field "at": not an RFC 3339 timestamp such as 2024-01-31T08:00:00Z'),
    ("number for timestamp", {"at": 5},
     'invalid value for field "at": not an RFC 3339 timestamp such as 2024-01-31T08:00:00Z'),
    ("bad wrapper", {"limit": "x"}, 'invalid value for field "limit": not an integer'),
    ("string for repeated", {"tags": "a"}, 'invalid value for field "tags": not an array'),
    ("number in repeated string", {"tags": ["a", 1]}, 'invalid value for field "tags": not a string'),
    ("null in repeated", {"tags": [None]}, 'invalid value for field "tags": null is not allowed in an array'),
    ("bad nested value", {"filter": {"min_size": "x"}}, 'invalid value for field "filter.min_size": not an integer'),
    ("string for message", {"filter": "abc"}, 'invalid value for field "filter": not an object'),
    ("number for message", {"filter": 5}, 'invalid value for field "filter": not an object'),
    ("array for message", {"filter": [1]}, 'invalid value for field "filter": not an object'),
    ("lone surrogate", {"text": "\ud800"}, 'invalid value for field "text": not valid Unicode (unpaired surrogate)'),
]  # fmt: skip

SHELF_BODIES: list[tuple[str, Any, str]] = [
    ("unknown field under a body field", {"nope": 1}, 'unknown field "item.nope"'),
    ("array for map", {"labels": [1]}, 'invalid value for field "item.labels": not an object'),
    ("number in map", {"labels": {"a": 1}}, 'invalid value for field "item.labels": not a string'),
]


def _build(routes: list[Route], method: str, path: str, body: Any) -> None:
    route, values = Router(routes).match(method, path)
    build_request(build_plan(route), values, [], body)


def _refused(routes: list[Route], method: str, path: str, body: Any) -> str:
    with pytest.raises(GatewayError) as caught:
        _build(routes, method, path, body)
    assert caught.value.http_status == 400
    return caught.value.message


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
def test_bad_bodies(echo_routes: list[Route], body: Any, message: str) -> None:
    got = _refused(echo_routes, "POST", "/test/v1/echo/1:shout", body)
    assert got == message
    assert "postcardtest." not in got and "Message type" not in got and "EchoRequest" not in got


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in SHELF_BODIES], ids=[c[0] for c in SHELF_BODIES])
def test_bad_bodies_of_a_body_field(echo_routes: list[Route], body: Any, message: str) -> None:
    got = _refused(echo_routes, "PATCH", "/test/v1/shelves/s1/items/i2", body)
    assert got == message
    assert "postcardtest." not in got and "ShelfItem" not in got


def test_deep_nesting_is_a_clear_400(echo_routes: list[Route]) -> None:
    body: Any = {"filter": {}}
    for _ in range(200):
        body = {"filter": body}
    message = _refused(echo_routes, "POST", "/test/v1/echo/1:shout", body)
    assert "postcardtest." not in message and "Message type" not in message
