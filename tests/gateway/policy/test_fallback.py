"""The fallback cache: per user and request, fresh within the TTL, bounded, never another user's."""
from __future__ import annotations

import grpc
import pytest

from gateway.errors import GatewayError
from gateway.policy.fallback import FallbackCache, falls_back
from gateway.settings import POSTCARD_SERVICE, FallbackSettings
from gateway.upstream.rpc import RpcCatalog
from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from tests.support.waiting import ManualClock


@pytest.fixture
def rpc():  # type: ignore[no-untyped-def]
    return RpcCatalog([POSTCARD_SERVICE])[f"{POSTCARD_SERVICE}.ListMyPostcards"]


def listing(*ids: str) -> pb.ListMyPostcardsResponse:
    return pb.ListMyPostcardsResponse(postcards=[pb.PostcardSummary(postcard_id=i) for i in ids])


def test_the_users_own_answer_else_empty(rpc) -> None:  # type: ignore[no-untyped-def]
    cache = FallbackCache(FallbackSettings())
    request = pb.ListMyPostcardsRequest()
    cache.remember(rpc, request, "alice", listing("a1", "a2"))
    assert cache.answer(rpc, request, "alice") == (listing("a1", "a2"), "cache")
    assert cache.answer(rpc, request, "bob") == (pb.ListMyPostcardsResponse(), "empty")
    assert cache.answer(rpc, request, None) == (pb.ListMyPostcardsResponse(), "empty")


def test_entries_expire(rpc) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    cache = FallbackCache(FallbackSettings(ttl_seconds=60), clock)
    cache.remember(rpc, pb.ListMyPostcardsRequest(), "alice", listing("a1"))
    clock.advance(59)
    assert cache.answer(rpc, pb.ListMyPostcardsRequest(), "alice")[1] == "cache"
    clock.advance(1)
    assert cache.answer(rpc, pb.ListMyPostcardsRequest(), "alice")[1] == "empty"
    assert len(cache) == 0


def test_bounded_in_entries_least_recently_used_first_out(rpc) -> None:  # type: ignore[no-untyped-def]
    cache = FallbackCache(FallbackSettings(max_entries=2))
    request = pb.ListMyPostcardsRequest()
    cache.remember(rpc, request, "u1", listing("1"))
    cache.remember(rpc, request, "u2", listing("2"))
    cache.answer(rpc, request, "u1")  # u1 used: u2 is now the oldest
    cache.remember(rpc, request, "u3", listing("3"))
    assert [cache.answer(rpc, request, u)[1] for u in ("u1", "u2", "u3")] == ["cache", "empty", "cache"]


def test_bounded_in_bytes(rpc) -> None:  # type: ignore[no-untyped-def]
    big = listing(*(f"postcard-{i}" for i in range(100)))
    cache = FallbackCache(FallbackSettings(max_bytes=big.ByteSize() * 2))
    for user in ("u1", "u2", "u3"):
        cache.remember(rpc, pb.ListMyPostcardsRequest(), user, big)
    assert len(cache) == 2
    assert cache.size_bytes <= big.ByteSize() * 2


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, True),
        (grpc.StatusCode.INTERNAL, True),
        (grpc.StatusCode.UNKNOWN, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, True),
        (grpc.StatusCode.UNIMPLEMENTED, True),
        (grpc.StatusCode.DATA_LOSS, True),
        (grpc.StatusCode.NOT_FOUND, False),
        (grpc.StatusCode.INVALID_ARGUMENT, False),
        (grpc.StatusCode.PERMISSION_DENIED, False),
        (grpc.StatusCode.UNAUTHENTICATED, False),
        (grpc.StatusCode.CANCELLED, False),
    ],
)
def test_only_backend_faults_fall_back(code: grpc.StatusCode, expected: bool) -> None:
    assert falls_back(GatewayError(code, "x")) is expected
