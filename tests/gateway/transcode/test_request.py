"""HTTP pieces -> request message, over the real contracts and the test-only EchoService."""
from typing import Any

import grpc
import pytest

from gateway.errors import GatewayError
from gateway.routes.router import Router
from gateway.routes.table import Route
from gateway.transcode.plan import build_plan
from gateway.transcode.request import build_request, check_content_type, parse_json, read_body


def _request(routes: list[Route], method: str, path: str, query: list[tuple[str, str]] = (), body: Any = None):  # type: ignore[assignment, no-untyped-def]
    route, values = Router(routes).match(method, path)
    return build_request(build_plan(route), values, query, body)


def test_path_variable_is_type_checked(echo_routes: list[Route]) -> None:
    assert _request(echo_routes, "GET", "/test/v1/echo/42").count == 42
    with pytest.raises(GatewayError) as caught:
        _request(echo_routes, "GET", "/test/v1/echo/forty")
    assert caught.value.http_status == 400
    assert caught.value.message == 'invalid value for field "count": not an integer'


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ([("text", "hi")], lambda m: m.text == "hi"),
        ([("tags", "a"), ("tags", "b")], lambda m: list(m.tags) == ["a", "b"]),
        ([("loud", "true")], lambda m: m.loud is True),
        ([("big", "9007199254740993")], lambda m: m.big == 9007199254740993),
        ([("ratio", "0.5")], lambda m: m.ratio == 0.5),
        ([("color", "COLOR_BLUE")], lambda m: m.color == 2),
        ([("color", "1")], lambda m: m.color == 1),
        ([("filter.tag", "x"), ("filter.min_size", "3")], lambda m: (m.filter.tag, m.filter.min_size) == ("x", 3)),
        ([("filter.minSize", "4")], lambda m: m.filter.min_size == 4),
        ([("at", "2026-01-02T03:04:05Z")], lambda m: m.at.seconds == 1767323045),
        ([("limit", "7")], lambda m: m.HasField("limit") and m.limit.value == 7),
        ([("blob", "aGk=")], lambda m: m.blob == b"hi"),
        ([("small", "4294967295")], lambda m: m.small == 4294967295),
    ],
)
def test_query_parameters(echo_routes: list[Route], query: list[tuple[str, str]], check: Any) -> None:
    assert check(_request(echo_routes, "GET", "/test/v1/echo/1", query))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([("nope", "1")], 'unknown query parameter "nope"'),
        ([("loud", "maybe")], 'invalid value for field "loud": not a boolean (true or false)'),
        ([("big", "1.5")], 'invalid value for field "big": not an integer'),
        ([("small", "-1")], 'invalid value for field "small": integer out of range'),
        ([("small", "4294967296")], 'invalid value for field "small": integer out of range'),
        ([("color", "COLOR_GREEN")], 'invalid value for field "color": not a known enum value'),
        ([("at", "yesterday")],
         'invalid value for field "at": not an RFC 3339 timestamp such as 2024-01-31T08:00:00Z'),
        ([("limit", "x")], 'invalid value for field "limit": not an integer'),
        ([("filter", "x")], 'unknown query parameter "filter"'),
        ([("blob", "!!!")], 'invalid value for field "blob": not base64'),
    ],
)
def test_bad_query_parameters(echo_routes: list[Route], query: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(GatewayError) as caught:
        _request(echo_routes, "GET", "/test/v1/echo/1", query)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message == message


def test_body_star_and_path_variable_wins(echo_routes: list[Route]) -> None:
    message = _request(echo_routes, "POST", "/test/v1/echo/3:shout", body={"text": "hey", "count": 99})
    assert (message.count, message.text) == (3, "hey")


def test_body_field_and_multi_segment_variable(echo_routes: list[Route]) -> None:
    message = _request(
        echo_routes, "PATCH", "/test/v1/shelves/s1/items/i2", [("validate_only", "true")], {"title": "T"}
    )
    assert message.item.name == "shelves/s1/items/i2"
    assert message.item.title == "T"
    assert message.validate_only is True


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"code": "x", "extra": 1}, 'unknown field "extra"'),
        ({"code": 5}, 'invalid value for field "code": not a string'),
        ({"code": ["a"]}, 'invalid value for field "code": not a string'),
        ([], "JSON object"),
        ("code", "JSON object"),
    ],
)
def test_bad_bodies(route_named: Any, body: Any, named: str) -> None:
    route = route_named("Login")
    with pytest.raises(GatewayError) as caught:
        build_request(build_plan(route), {}, [], body)
    assert caught.value.http_status == 400
    assert named in caught.value.message


def test_proto3_json_names_are_accepted(route_named: Any) -> None:
    message = build_request(build_plan(route_named("CreatePostcard")), {}, [], {"mood": "m", "style": "s"})
    assert (message.mood, message.style) == ("m", "s")


def test_malformed_json() -> None:
    with pytest.raises(GatewayError) as caught:
        parse_json(b'{"code": ')
    assert caught.value.http_status == 400
    assert parse_json(b"  ") == {}


@pytest.mark.parametrize(
    ("content_type", "length", "status"),
    [
        ("application/json", 10, None),
        ("application/json; charset=utf-8", 10, None),
        ("application/merge-patch+json", 10, None),
        (None, 0, None),
        (None, 10, 415),
        ("text/plain", 10, 415),
        ("application/x-www-form-urlencoded", 10, 415),
        ("multipart/form-data; boundary=x", 10, 415),
    ],
)
def test_content_type(content_type: str | None, length: int, status: int | None) -> None:
    if status is None:
        check_content_type(content_type, length)
        return
    with pytest.raises(GatewayError) as caught:
        check_content_type(content_type, length)
    assert caught.value.http_status == status


async def _chunks(*parts: bytes):  # type: ignore[no-untyped-def]
    for part in parts:
        yield part


async def test_body_limit_declared_and_streamed() -> None:
    assert await read_body(_chunks(b"ab", b"cd"), 4, 4) == b"abcd"
    with pytest.raises(GatewayError) as declared:
        await read_body(_chunks(b"x"), 10, 4)
    assert declared.value.http_status == 413
    with pytest.raises(GatewayError) as streamed:
        await read_body(_chunks(b"abc", b"de", b"never read"), None, 4)
    assert streamed.value.http_status == 413
