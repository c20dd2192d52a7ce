"""What crosses between HTTP headers and gRPC metadata: one allow-list each way.

Nothing crosses by accident. The caller's identity crosses only as the bearer
token the gateway verified (`authorization`), which each service verifies again
(services/common/identity.py); a client's `x-user-id` or any other header that
claims an identity is not on the allow-list.

A request header crosses only as a value gRPC accepts: printable ASCII
(0x20-0x7E, the gRPC spec's ASCII-Value) within the header's length limit. A
header we only pass along is dropped when it breaks its rule; Idempotency-Key,
which decides whether a create happens twice, is a 400 instead: silently
dropping it would turn a retry into a second postcard.

The whole set is bounded too (`check_budget`): a backend refuses a call whose
metadata passes its limit (gRPC's default: 8 KiB, counted as HTTP/2 does, each
entry's name and value plus 32 bytes; between 8 and 16 KiB at random), and
answers RESOURCE_EXHAUSTED with gRPC's own text. So the allow-listed headers a
client sends, counted as sent (every field, before any is joined or dropped)
together with the request id the gateway adds, must stay within
METADATA_BUDGET_BYTES, 6 KiB: the other 2 KiB are for what gRPC adds itself
(:path, :authority, user-agent, grpc-timeout, ...) and the trace context the
tracing interceptor writes (`trace_context`: only the allow-listed traceparent
and tracestate, never a client's baggage). Beyond it the request is a 431.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import forwarded_headers_too_large, invalid_argument

REQUEST_ID_METADATA = "x-request-id"  # the accepted id (observability/request_id.py), never the client's raw header
IDEMPOTENCY_KEY = "idempotency-key"
# The postcard-service accepts keys of at most 200 characters; the gateway's rule is the same.
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# What the headers a client asks to forward, and the gateway's own entries, may add up to (see above).
METADATA_BUDGET_BYTES = 6 * 1024
ENTRY_OVERHEAD_BYTES = 32  # per entry, as HTTP/2 (RFC 9113 §6.5.2) and gRPC count a header list
TRACE_CONTEXT = ("traceparent", "tracestate")


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
    "authorization": HeaderRule(4096),  # the services verify it and take the caller from it
    "traceparent": HeaderRule(256),  # W3C trace context: 55 characters in version 00
    "tracestate": HeaderRule(512, is_list=True),  # W3C: vendors must propagate at least 512 characters
    "accept-language": HeaderRule(256, is_list=True),
    IDEMPOTENCY_KEY: HeaderRule(MAX_IDEMPOTENCY_KEY_LENGTH, required_valid=True),
}
# The same names as an ASGI scope's raw header names (lower-case bytes), for one pass over a request's headers.
ALLOW_LISTED: dict[bytes, str] = {name.encode(): name for name in _REQUEST_HEADERS}
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
    metadata = []
    for name, given in _allowed(headers).items():
        value = _crossing(name, given)
        if value is not None:
            metadata.append((name, value))
    return metadata


def trace_context(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The caller's W3C trace context as it may cross: traceparent and tracestate under their rules, nothing else.

    What a tracing span continues from, so that the trace context each client span writes into the
    metadata (observability/tracing.py) is bounded like the rest (a client's baggage never crosses). Never raises.
    """
    allowed = _allowed((name, value) for name, value in headers if name in TRACE_CONTEXT)
    crossing = {name: _crossing(name, given) for name, given in allowed.items()}
    return {name: value for name, value in crossing.items() if value is not None}


def check_budget(headers: Iterable[tuple[str, str]], added: Iterable[tuple[str, str]]) -> None:
    """431 when the allow-listed headers as sent, plus the entries the gateway `added`, pass the budget."""
    size = sum(entry_size(name, value) for name, value in headers if name in _REQUEST_HEADERS)
    size += sum(entry_size(name, value) for name, value in added)
    if size > METADATA_BUDGET_BYTES:
        raise forwarded_headers_too_large(METADATA_BUDGET_BYTES, sorted(_REQUEST_HEADERS))


def entry_size(name: str, value: str) -> int:
    """Bytes of one entry as HTTP/2 counts them (Starlette decodes header bytes as latin-1: one byte each)."""
    return len(name) + len(value) + ENTRY_OVERHEAD_BYTES


def _allowed(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        if name in _REQUEST_HEADERS:
            values.setdefault(name, []).append(value.strip(" \t"))
    return values


def _crossing(name: str, given: list[str]) -> str | None:
    """The value that crosses for the fields `given` of header `name`, None if none; 400 for a required_valid one."""
    rule = _REQUEST_HEADERS[name]
    value = ", ".join(given) if rule.is_list else given[0]
    if len(given) > 1 and not rule.is_list:
        if rule.required_valid:
            raise invalid_argument(f"send one {_display(name)} header, not {len(given)}")
        return None
    if 0 < len(value) <= rule.max_length and is_metadata_value(value):
        return value
    if rule.required_valid:
        raise invalid_argument(
            f"{_display(name)} must be 1-{rule.max_length} printable ASCII characters (0x20-0x7E)"
            + (f", got {len(value)}" if len(value) > rule.max_length else "")
        )
    return None


def response_headers(metadata: Iterable[tuple[str, str | bytes]]) -> dict[str, str]:
    """The allowed response metadata as HTTP headers; binary (-bin) metadata never crosses."""
    headers: dict[str, str] = {}
    for name, value in metadata:
        if name in _RESPONSE_METADATA and isinstance(value, str) and len(value) <= _MAX_RESPONSE_VALUE_LENGTH:
            headers[name] = value
    return headers


def _display(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))
