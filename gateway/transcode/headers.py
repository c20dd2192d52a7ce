"""What crosses between HTTP headers and gRPC metadata: one allow-list each way.

Nothing crosses by accident. Identity metadata is never taken from the client:
`x-user-id` is not on the allow-list and is set only from a verified token.
"""
from __future__ import annotations

from collections.abc import Iterable

USER_ID_METADATA = "x-user-id"
IDEMPOTENCY_KEY = "idempotency-key"

# HTTP request header -> gRPC request metadata (names are lower case on both sides).
_REQUEST_HEADERS = frozenset(
    {
        "authorization",  # lets a backend re-verify the token if it wants to
        "x-request-id",
        "traceparent",
        "tracestate",
        IDEMPOTENCY_KEY,
        "accept-language",
    }
)
# gRPC response metadata (headers and trailers) -> HTTP response header.
_RESPONSE_METADATA = frozenset({"cache-control", "content-language", "etag", "last-modified", "retry-after"})
# Longer values are dropped rather than forwarded: metadata is not a place for payloads.
_MAX_VALUE_LENGTH = 8192



def request_metadata(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The allowed request headers as gRPC metadata. The caller adds identity and request id itself."""
    return [
        (name, value)
        for name, value in headers
        if name in _REQUEST_HEADERS and len(value) <= _MAX_VALUE_LENGTH and value.isprintable()
    ]


def response_headers(metadata: Iterable[tuple[str, str | bytes]]) -> dict[str, str]:
    """The allowed response metadata as HTTP headers; binary (-bin) metadata never crosses."""
    headers: dict[str, str] = {}
    for name, value in metadata:
        if name in _RESPONSE_METADATA and isinstance(value, str) and len(value) <= _MAX_VALUE_LENGTH:
            headers[name] = value
    return headers

