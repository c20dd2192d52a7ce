"""HTTP request -> protobuf request: path variables, then query parameters, then body.

The body is read with a hard size limit (413 without reading past it), must be
JSON (415 otherwise) and is parsed with proto3 JSON semantics: unknown fields
and wrongly typed values are 400s naming the field. Path variables are applied
last, so they win over the same field in the body.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.requests import ClientDisconnect

from ..errors import GatewayError, content_too_large, invalid_argument, unsupported_media_type
from ..routes.router import PathValues
from .json_errors import describe_parse_error
from .plan import RoutePlan

_JSON_TYPES = ("application/json",)


def check_content_type(content_type: str | None, body_length: int) -> None:
    """Body routes take JSON only; a request with an empty body may omit the header."""
    if content_type is None:
        if body_length:
            raise unsupported_media_type("missing")
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise unsupported_media_type(media_type or "empty")


async def read_body(chunks: AsyncIterator[bytes], declared_length: int | None, limit: int) -> bytes:
    """The whole body, refusing with 413 as soon as it is known to exceed `limit` bytes.

    A client that goes away first (or is cut off by the server's body timeout) is CANCELLED
    (499), an answer nobody reads, not an unhandled error.
    """
    if declared_length is not None and declared_length > limit:
        raise content_too_large(limit)
    body = bytearray()
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise content_too_large(limit)
    except ClientDisconnect:
        raise GatewayError(grpc.StatusCode.CANCELLED, "client disconnected before sending the whole body") from None
    return bytes(body)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise invalid_argument(f"malformed JSON in request body: {exc}") from None


def build_request(
    plan: RoutePlan, path_values: PathValues, query: Iterable[tuple[str, str]], body: Any | None
) -> Message:
    """The request message for one HTTP request; GatewayError 400 for anything that does not fit."""
    message = plan.request_class()
    if plan.body == "*":
        if not isinstance(body, dict):
            raise invalid_argument("request body must be a JSON object")
        _merge_json(body, message)
    elif plan.body:
        _merge_json({plan.body: body}, message)
    for key, value in query:
        setter = plan.query_setters.get(key)
        if setter is None:
            raise unknown_query_parameter(key)
        setter.set(message, value)  # fields bound by the path are not query parameters: no clash
    for field_path, value in path_values.items():
        plan.path_setters[field_path].set(message, value)
    return message


def unknown_query_parameter(key: str) -> GatewayError:
    """A query parameter the route does not take: a 400 naming it (a typo never passes silently)."""
    return invalid_argument(f'unknown query parameter "{key[:200]}"')


def _merge_json(value: dict[str, Any], message: Message) -> None:
    try:
        json_format.ParseDict(value, message, ignore_unknown_fields=False)
    except (json_format.ParseError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        # In the API's terms: the field path and what is wrong, never protobuf type names.
        raise invalid_argument(describe_parse_error(exc, value)) from None
