import pytest

from gateway.errors import GatewayError
from gateway.transcode.headers import (
    METADATA_BUDGET_BYTES,
    check_budget,
    entry_size,
    request_metadata,
    response_headers,
    trace_context,
)


def test_only_allowed_request_headers_cross() -> None:
    headers = [
        ("authorization", "Bearer t"),
        ("x-request-id", "r1"),
        ("traceparent", "00-abc-def-01"),
        ("idempotency-key", "k"),
        ("accept-language", "zh-CN"),
        ("x-user-id", "someone-else"),  # identity is never taken from the client
        ("cookie", "session=1"),
        # The request id is added by call_context (the accepted one), never copied from the client.
        ("host", "example"),
        ("x-forwarded-for", "1.2.3.4"),
    ]
    assert request_metadata(headers) == [
        ("authorization", "Bearer t"),
        ("traceparent", "00-abc-def-01"),
        ("idempotency-key", "k"),
        ("accept-language", "zh-CN"),
    ]


# Headers we only pass along: a value gRPC would refuse is dropped, the request goes on.
DROPPED = [
    ("latin-1 byte, as Starlette decodes it", "accept-language", "fr\xe9"),
    ("non-ASCII", "traceparent", "00-é"),
    ("control character", "tracestate", "a=\x01"),
    ("DEL", "accept-language", "en\x7f"),
    ("too long", "accept-language", "a" * 257),
    ("empty", "accept-language", ""),
    ("blank", "traceparent", "   "),
    ("tracestate too long", "tracestate", "k=" + "v" * 511),
]


@pytest.mark.parametrize(("name", "value"), [c[1:] for c in DROPPED], ids=[c[0] for c in DROPPED])
def test_malformed_pass_along_headers_are_dropped(name: str, value: str) -> None:
    assert request_metadata([(name, value), ("authorization", "Bearer t")]) == [("authorization", "Bearer t")]


def test_values_lose_surrounding_whitespace() -> None:
    assert request_metadata([("accept-language", " zh-CN\t")]) == [("accept-language", "zh-CN")]


def test_list_headers_are_combined_and_singletons_sent_twice_do_not_cross() -> None:
    headers = [("tracestate", "a=1"), ("traceparent", "00-a"), ("tracestate", "b=2"), ("traceparent", "00-b")]
    assert request_metadata(headers) == [("tracestate", "a=1, b=2")]


def test_combined_list_within_the_limit() -> None:
    assert request_metadata([("accept-language", "a" * 200), ("accept-language", "b" * 200)]) == []


# Idempotency-Key decides whether a create happens twice: refused (400) with the rule, never dropped.
BAD_KEYS = [
    ("latin-1 byte", ["k\xe9"], "1-200 printable ASCII characters (0x20-0x7E)"),
    ("control character", ["k\x00y"], "1-200 printable ASCII characters"),
    ("too long", ["k" * 201], "1-200 printable ASCII characters (0x20-0x7E), got 201"),
    ("empty", [""], "1-200 printable ASCII characters"),
    ("blank", ["  "], "1-200 printable ASCII characters"),
    ("sent twice", ["a", "b"], "send one Idempotency-Key header, not 2"),
    ("sent twice, same value", ["a", "a"], "send one Idempotency-Key header"),
]


@pytest.mark.parametrize(("values", "message"), [c[1:] for c in BAD_KEYS], ids=[c[0] for c in BAD_KEYS])
def test_malformed_idempotency_key_is_400(values: list[str], message: str) -> None:
    with pytest.raises(GatewayError) as caught:
        request_metadata([("idempotency-key", value) for value in values])
    assert caught.value.http_status == 400
    assert message in caught.value.message


def test_idempotency_key_at_the_limit_crosses() -> None:
    key = "k" * 199 + "~"
    assert request_metadata([("idempotency-key", key)]) == [("idempotency-key", key)]


def test_only_allowed_response_metadata_crosses() -> None:
    metadata = [
        ("cache-control", "private, max-age=60"),
        ("retry-after", "3"),
        ("x-user-id", "u"),
        ("grpc-status-details-bin", b"\x00"),
        ("etag", b"binary-not-allowed"),
        ("set-cookie", "a=b"),
    ]
    assert response_headers(metadata) == {"cache-control": "private, max-age=60", "retry-after": "3"}


def test_entries_count_as_http2_does() -> None:
    assert entry_size("traceparent", "x" * 55) == 11 + 55 + 32


def _filling(total: int) -> list[tuple[str, str]]:
    """accept-language fields (each within its own limit) adding up to exactly `total` bytes."""
    fields, left = [], total
    while left > 0:
        value = "a" * min(200, left - len("accept-language") - 32)
        fields.append(("accept-language", value))
        left -= entry_size("accept-language", value)
    assert left == 0
    return fields


ADDED = [("x-request-id", "r" * 32), ("x-user-id", "u" * 36)]


def test_the_budget_counts_the_headers_as_sent_and_what_the_gateway_adds() -> None:
    added = sum(entry_size(name, value) for name, value in ADDED)
    check_budget(_filling(METADATA_BUDGET_BYTES - added), ADDED)  # exactly at the budget: fine
    for headers, extra in [(_filling(METADATA_BUDGET_BYTES - added + 48), ADDED),
                           (_filling(METADATA_BUDGET_BYTES - 47), [("x", "y" * 20)])]:
        with pytest.raises(GatewayError) as caught:
            check_budget(headers, extra)
        assert (caught.value.http_status, caught.value.code.name) == (431, "OUT_OF_RANGE")
        assert f"larger than {METADATA_BUDGET_BYTES} bytes together" in caught.value.message


def test_headers_that_do_not_cross_do_not_count() -> None:
    check_budget([("cookie", "c" * 20_000), ("user-agent", "u" * 5000), ("x-user-id", "x" * 10_000)], ADDED)


def test_over_budget_even_when_every_header_would_be_dropped() -> None:
    """Counted as sent: what a client asks to forward, whatever of it would be dropped."""
    with pytest.raises(GatewayError):
        check_budget([("tracestate", "k=" + "v" * 2000)] * 4, ADDED)


def test_trace_context_is_the_allow_listed_trace_headers_only() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = [("traceparent", parent), ("tracestate", "a=1"), ("tracestate", "b=2"), ("baggage", "k=v"),
               ("authorization", "Bearer t")]
    assert trace_context(headers) == {"traceparent": parent, "tracestate": "a=1, b=2"}
    assert trace_context([("tracestate", "k=" + "v" * 600), ("traceparent", parent), ("traceparent", parent)]) == {}
    assert trace_context([("idempotency-key", "")]) == {}  # never raises, even for a header that would be a 400
