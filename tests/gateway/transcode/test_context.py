"""A request's raw ASGI headers -> the CallContext of its upstream calls: one pass, the same rules as the allow-list."""
import pytest

from gateway.errors import GatewayError
from gateway.transcode.context import call_context
from gateway.transcode.headers import METADATA_BUDGET_BYTES
from trust.tokens import Principal

ALICE = Principal(subject="alice", expires_at=2e9)


def test_only_allow_listed_headers_cross_with_the_accepted_request_id() -> None:
    raw = [
        (b"host", b"example"),
        (b"authorization", b"Bearer t"),
        (b"x-request-id", b"from-the-client"),  # never copied: the accepted id is added instead
        (b"x-user-id", b"mallory"),
        (b"accept-language", b"fr\xe9"),  # latin-1 as Starlette decodes it: not ASCII, dropped
        (b"tracestate", b"a=1"),
        (b"tracestate", b"b=2"),  # list-valued: joined
    ]
    context = call_context(raw, ALICE, "req-1", now=100.0)
    assert context.metadata == (("authorization", "Bearer t"), ("tracestate", "a=1, b=2"), ("x-request-id", "req-1"))
    assert (context.user_id, context.client_deadline, context.idempotency_key) == ("alice", None, False)


def test_the_first_grpc_timeout_sets_the_client_deadline() -> None:
    context = call_context([(b"grpc-timeout", b"500m"), (b"grpc-timeout", b"9S")], None, "r", now=100.0)
    assert context.client_deadline == pytest.approx(100.5)
    assert context.user_id is None


@pytest.mark.parametrize("value", [b"soon", b"0S", b"123456789S", b"5\xe9"])
def test_a_bad_grpc_timeout_is_a_400(value: bytes) -> None:
    with pytest.raises(GatewayError) as refused:
        call_context([(b"grpc-timeout", value)], None, "r", now=0.0)
    assert refused.value.http_status == 400


def test_an_idempotency_key_is_noted_and_a_bad_one_refused() -> None:
    assert call_context([(b"idempotency-key", b"k-1")], ALICE, "r", now=0.0).idempotency_key
    with pytest.raises(GatewayError) as refused:
        call_context([(b"idempotency-key", b"k\x01")], ALICE, "r", now=0.0)
    assert refused.value.http_status == 400


def test_headers_past_the_budget_are_a_431_counted_as_sent() -> None:
    # Two accept-language fields that together pass the budget; only allow-listed headers count.
    half = b"a" * (METADATA_BUDGET_BYTES // 2)
    call_context([(b"cookie", half * 4), (b"user-agent", half * 4)], None, "r", now=0.0)
    with pytest.raises(GatewayError) as refused:
        call_context([(b"accept-language", half), (b"accept-language", half)], None, "r", now=0.0)
    assert refused.value.http_status == 431
