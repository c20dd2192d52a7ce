"""What crosses between HTTP headers and gRPC metadata: one allow-list each way.

Nothing crosses by accident. Identity metadata is never taken from the client:
`x-user-id` is not on the allow-list and is set only from a verified token.

A request header crosses only as a value gRPC accepts: printable ASCII
(0x20-0x7E, the gRPC spec's ASCII-Value) within the header's length limit.
The limits keep the whole metadata of a call under gRPC's default 8 KiB
(`grpc.max_metadata_size`), past which the backend refuses the call. A header
we only pass along is dropped when it breaks its rule; Idempotency-Key, which
decides whether a create happens twice, is a 400 instead: silently dropping
it would turn a retry into a second postcard.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import invalid_argument

USER_ID_METADATA = "x-user-id"
REQUEST_ID_METADATA = "x-request-id"  # the accepted id (observability/request_id.py), never the client's raw header
IDEMPOTENCY_KEY = "idempotency-key"
# The postcard-service accepts keys of at most 200 characters; the gateway's rule is the same.
MAX_IDEMPOTENCY_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class HeaderRule:
    max_length: int
    # Several fields of a list-valued header are one comma-separated list (RFC 9110 §5.3);
    # a singleton header sent twice is ambiguous and does not cross.
    is_list: bool = False
    # Refuse the request (400) instead of dropping the header.
    required_valid: bool = False


# HTTP request header -> gRPC request metadata (names are lower case on both sides).
_REQUEST_HEADERS: dict[str, HeaderRule] = {
    "authorization": HeaderRule(4096),  # lets a backend re-verify the token if it wants to
    "traceparent": HeaderRule(256),  # W3C trace context: 55 characters in version 00
    "tracestate": HeaderRule(512, is_list=True),  # W3C: vendors must propagate at least 512 characters
    "accept-language": HeaderRule(256, is_list=True),
    IDEMPOTENCY_KEY: HeaderRule(MAX_IDEMPOTENCY_KEY_LENGTH, required_valid=True),
}
# gRPC response metadata (headers and trailers) -> HTTP response header.
_RESPONSE_METADATA = frozenset({"cache-control", "content-language", "etag", "last-modified", "retry-after"})
_MAX_RESPONSE_VALUE_LENGTH = 8192


def header_rule(name: str) -> HeaderRule | None:
    """The rule of an allow-listed request header (any letter case); None if it does not cross."""
    return _REQUEST_HEADERS.get(name.lower())


def is_metadata_value(value: str) -> bool:
    """True for a value gRPC accepts in ASCII metadata: printable ASCII, space included.

    Starlette decodes header bytes as latin-1, so a raw byte 0xE9 arrives as 'é', which
    `str.isprintable()` alone would accept.
    """
    return value.isascii() and value.isprintable()


def request_metadata(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The allowed request headers as gRPC metadata, each name at most once, in order of first appearance.

    Values lose surrounding whitespace (not part of an HTTP field value). Raises GatewayError
    (400) for a header whose rule is `required_valid`; drops the others when they break their rule.
    The caller adds identity itself.
    """
    values: dict[str, list[str]] = {}
    for name, value in headers:
        if name in _REQUEST_HEADERS:
            values.setdefault(name, []).append(value.strip(" \t"))
    metadata = []
    for name, given in values.items():
        rule = _REQUEST_HEADERS[name]
        value = ", ".join(given) if rule.is_list else given[0]
        if len(given) > 1 and not rule.is_list:
            if rule.required_valid:
                raise invalid_argument(f"send one {_display(name)} header, not {len(given)}")
            continue
        if 0 < len(value) <= rule.max_length and is_metadata_value(value):
            metadata.append((name, value))
        elif rule.required_valid:
            raise invalid_argument(
                f"{_display(name)} must be 1-{rule.max_length} printable ASCII characters (0x20-0x7E)"
                + (f", got {len(value)}" if len(value) > rule.max_length else "")
            )
    return metadata


def response_headers(metadata: Iterable[tuple[str, str | bytes]]) -> dict[str, str]:
    """The allowed response metadata as HTTP headers; binary (-bin) metadata never crosses."""
    headers: dict[str, str] = {}
    for name, value in metadata:
        if name in _RESPONSE_METADATA and isinstance(value, str) and len(value) <= _MAX_RESPONSE_VALUE_LENGTH:
            headers[name] = value
    return headers


def _display(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))
