"""Protobuf response -> HTTP response.

proto3 JSON with the original (snake_case) field names; unpopulated fields are
omitted except those with explicit presence; `response_body` selects one field
(so a repeated field becomes a bare JSON array); google.api.HttpBody is sent as
its raw bytes with its own content type; a paged list announces its next page
in a `Link` header (`paging.py`).

Response headers for private data:

- `Cache-Control: no-store` on every response of an authenticated route (the caller's own
  data), whatever the backend sent: no-store is the strongest directive, so nothing a backend
  could add would make it stricter, and a weaker one (`private, max-age=60`) must not pass.
  On a public route a backend's allow-listed `cache-control` is kept; without one the answer
  is `no-store` too (the login response carries a token).
- A `google.api.HttpBody` (the postcard SVG, which could carry script) gets
  `X-Content-Type-Options: nosniff` and a Content-Security-Policy that forbids any script,
  fetch or plug-in and sandboxes the document if it is opened on its own.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from starlette.responses import Response
from starlette.types import Scope

from ..upstream.call import Reply
from . import encoder
from .headers import response_headers
from .paging import LINK
from .plan import RoutePlan

FALLBACK_HEADER = "X-Fallback"
NO_STORE = "no-store"
HTTP_BODY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


def message_json(message: Message) -> dict[str, Any]:
    """A message as proto3 JSON with the original field names: the one wire format of every response.

    Equal to `json_format.MessageToDict(message, preserving_proto_field_name=True)`, by a converter
    compiled once per message type (`encoder.py`)."""
    document: dict[str, Any] = encoder.message_json(message)
    return document


def to_json_value(plan: RoutePlan, message: Message) -> Any:
    """The JSON value of a response (the selected field, when the route names one)."""
    document = message_json(message)
    if not plan.response_field:
        return document
    if plan.response_field in document:
        return document[plan.response_field]
    return _unpopulated(plan.route.method.output_type.fields_by_name[plan.response_field])


def _unpopulated(field: FieldDescriptor) -> Any:
    """What proto3 JSON would write for an unset field, had it been printed."""
    if field.is_repeated:
        return {} if field.message_type is not None and field.message_type.GetOptions().map_entry else []
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return {}
    if field.enum_type is not None:
        return field.enum_type.values_by_number[field.default_value].name
    if field.type == FieldDescriptor.TYPE_BYTES:
        return ""
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return str(field.default_value)
    return field.default_value


def render(plan: RoutePlan, reply: Reply, scope: Scope) -> Response:
    """The HTTP response of an upstream reply to the request of `scope`: allowed response metadata as headers,
    X-Fallback when one answered, Link to the next page of a paged list."""
    message = reply.message
    headers = response_policy_headers(plan, response_headers(reply.metadata))
    if reply.fallback is not None:
        headers[FALLBACK_HEADER] = reply.fallback
    if plan.next_page is not None:
        link = plan.next_page.link(message, scope)
        if link is not None:
            headers[LINK] = link
    if plan.response_is_http_body:
        return Response(
            message.data,  # type: ignore[attr-defined]
            status_code=plan.success_status,
            media_type=message.content_type or "application/octet-stream",  # type: ignore[attr-defined]
            headers=headers,
        )
    return json_response(to_json_value(plan, message), plan.success_status, headers)


def response_policy_headers(plan: RoutePlan, backend_headers: Mapping[str, str]) -> dict[str, str]:
    """The backend's allowed headers with the caching and content rules of this module applied."""
    headers = cache_headers(backend_headers, public=plan.route.policy.public)
    if plan.response_is_http_body:
        headers.update(HTTP_BODY_HEADERS)
    return headers


def cache_headers(backend_headers: Mapping[str, str], *, public: bool) -> dict[str, str]:
    """The caching rule above, for any route (contract or hand-written): no-store unless public and set."""
    headers = dict(backend_headers)
    if not public or "cache-control" not in headers:
        headers["cache-control"] = NO_STORE
    return headers


def json_response(value: Any, status: int, headers: Mapping[str, str]) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json", headers=headers)
