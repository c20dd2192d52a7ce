from typing import Any

import orjson
import pytest
from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2

from gateway.transcode.plan import build_plan
from gateway.transcode.response import render, response_policy_headers, to_json_value
from gateway.upstream.call import Reply
from postcardapp.postcard.v1 import postcard_service_pb2 as postcard
from postcardapp.user.v1 import user_service_pb2 as user

SCOPE = {"type": "http", "method": "GET", "path": "/p", "raw_path": b"/p", "query_string": b""}


def test_is_new_user_false_is_sent(route_named: Any) -> None:
    plan = build_plan(route_named("Login"))
    assert to_json_value(plan, user.LoginResponse(token="t", is_new_user=False)) == {"token": "t", "is_new_user": False}


def test_snake_case_and_unpopulated_fields_omitted(route_named: Any) -> None:
    plan = build_plan(route_named("GetTaskStatus"))
    assert to_json_value(plan, postcard.GetTaskStatusResponse(status="processing")) == {"status": "processing"}
    done = postcard.GetTaskStatusResponse(
        status="completed",
        data=postcard.Postcard(postcard_id="p", image_url="/i", created_at=timestamp_pb2.Timestamp(seconds=0)),
    )
    assert to_json_value(plan, done) == {
        "status": "completed",
        "data": {"postcard_id": "p", "image_url": "/i", "created_at": "1970-01-01T00:00:00Z"},
    }


def test_response_body_selects_a_bare_array(route_named: Any) -> None:
    plan = build_plan(route_named("ListMyPostcards"))
    assert to_json_value(plan, postcard.ListMyPostcardsResponse()) == []
    listed = postcard.ListMyPostcardsResponse(postcards=[postcard.PostcardSummary(postcard_id="a")])
    assert to_json_value(plan, listed) == [{"postcard_id": "a"}]


def test_response_body_selects_a_message(route_named: Any) -> None:
    plan = build_plan(route_named("GetPostcard"))
    answer = postcard.GetPostcardResponse(postcard=postcard.Postcard(postcard_id="a", frontend_code="<view/>"))
    assert to_json_value(plan, answer) == {"postcard_id": "a", "frontend_code": "<view/>"}


def test_success_status_and_http_body(route_named: Any) -> None:
    reply = Reply(postcard.CreatePostcardResponse(task_id="t"), [], "e")
    created = render(build_plan(route_named("CreatePostcard")), reply, SCOPE)
    assert (created.status_code, orjson.loads(created.body)) == (202, {"task_id": "t"})
    assert "x-fallback" not in created.headers
    image = render(
        build_plan(route_named("GetPostcardImage")),
        Reply(httpbody_pb2.HttpBody(content_type="image/svg+xml", data=b"<svg/>"), [("cache-control", "private")], "e"),
        SCOPE,
    )
    assert image.status_code == 200
    assert image.body == b"<svg/>"
    assert image.headers["content-type"] == "image/svg+xml"
    assert image.headers["cache-control"] == "no-store"  # authenticated: never weaker


def test_fallback_is_flagged(route_named: Any) -> None:
    reply = Reply(postcard.ListMyPostcardsResponse(), [], None, fallback="empty")
    response = render(build_plan(route_named("ListMyPostcards")), reply, SCOPE)
    assert (response.status_code, orjson.loads(response.body)) == (200, [])
    assert response.headers["x-fallback"] == "empty"


# (rpc, backend's allow-listed headers, expected cache-control): authenticated routes are always
# no-store; a public route keeps what its backend says, else no-store.
CACHING = [
    ("GetPostcard", {}, "no-store"),
    ("GetPostcard", {"cache-control": "private, max-age=60"}, "no-store"),
    ("GetPostcard", {"cache-control": "public, max-age=86400"}, "no-store"),
    ("CreatePostcard", {}, "no-store"),
    ("Login", {}, "no-store"),
    ("Login", {"cache-control": "no-cache"}, "no-cache"),
]


@pytest.mark.parametrize(("rpc", "backend", "expected"), CACHING)
def test_cache_control(route_named: Any, rpc: str, backend: dict[str, str], expected: str) -> None:
    assert response_policy_headers(build_plan(route_named(rpc)), backend)["cache-control"] == expected


def test_http_body_cannot_be_sniffed_or_run_script(route_named: Any) -> None:
    image = render(
        build_plan(route_named("GetPostcardImage")),
        Reply(httpbody_pb2.HttpBody(content_type="image/svg+xml", data=b"<svg/>"),
              [("cache-control", "public"), ("etag", "x")], "e"), SCOPE)
    assert image.headers["x-content-type-options"] == "nosniff"
    assert image.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    assert (image.headers["cache-control"], image.headers["etag"]) == ("no-store", "x")
    created = render(build_plan(route_named("CreatePostcard")),
                     Reply(postcard.CreatePostcardResponse(task_id="t"), [], "e"), SCOPE)
    assert "content-security-policy" not in created.headers


@pytest.mark.parametrize(
    ("path", "query", "token", "link"),
    [
        (b"/api/v1/postcards/me", b"", "abc", '</api/v1/postcards/me?page_token=abc>; rel="next"'),
        (b"/api/v1/postcards/me", b"page_size=10&page_token=old", "a-b_c",
         '</api/v1/postcards/me?page_size=10&page_token=a-b_c>; rel="next"'),
        (b"/api/v1/postcards/me", b"pageToken=old&pageSize=3", "t",
         '</api/v1/postcards/me?pageSize=3&page_token=t>; rel="next"'),
        (b"/api/v1/postcards/me", b"page_size=10", "", None),  # the last page
    ],
)  # fmt: skip
def test_a_paged_list_links_its_next_page(
    route_named: Any, path: bytes, query: bytes, token: str, link: str | None
) -> None:
    reply = Reply(postcard.ListMyPostcardsResponse(postcards=[postcard.PostcardSummary(postcard_id="a")],
                                                   next_page_token=token), [], "e")
    scope = {**SCOPE, "path": path.decode(), "raw_path": path, "query_string": query}
    response = render(build_plan(route_named("ListMyPostcards")), reply, scope)
    assert orjson.loads(response.body) == [{"postcard_id": "a"}]  # the body stays the bare list
    assert response.headers.get("link") == link
