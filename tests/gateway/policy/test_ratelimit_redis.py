"""Rate limits in a real Redis: shared between limiters (as between gateway processes); Redis down."""
from __future__ import annotations

import logging

import pytest

from gateway.errors import GatewayError
from gateway.policy.ratelimit import RateLimits
from gateway.settings import RateLimitSettings
from tests.support.redis_server import RedisServer
from tests.support.waiting import ManualClock, room_in_window

METHOD = "pkg.Service.Method"


def limiter(redis: RedisServer, **settings: object) -> RateLimits:
    return RateLimits(RateLimitSettings(storage_uri=redis.uri, routes={METHOD: "5/minute"}, **settings))


async def outcomes(limits: RateLimits, n: int, caller: str = "user:alice") -> list[int]:
    statuses = []
    for _ in range(n):
        try:
            await limits.check(limits.for_method(METHOD), caller)
            statuses.append(200)
        except GatewayError as error:
            statuses.append(error.http_status)
    return statuses


async def test_two_limiters_share_one_count(redis_server: RedisServer) -> None:
    first, second = limiter(redis_server), limiter(redis_server)
    try:
        await room_in_window(60, room=5)  # the hits below take milliseconds
        assert await outcomes(first, 3) == [200] * 3
        assert await outcomes(second, 3) == [200, 200, 429]
        assert await outcomes(first, 1) == [429]
        assert await outcomes(second, 1, caller="user:bob") == [200]
    finally:
        await first.close()
        await second.close()


async def test_redis_down_fails_open_with_a_warning_then_tries_again(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    limits = RateLimits(
        RateLimitSettings(storage_uri=redis_server.uri, routes={METHOD: "2/minute"}, storage_retry_seconds=5),
        monotonic=clock,
    )
    try:
        await room_in_window(60, room=5)
        assert await outcomes(limits, 3) == [200, 200, 429]
        redis_server.stop()
        with caplog.at_level(logging.WARNING):
            assert await outcomes(limits, 5) == [200] * 5
        warnings = [r for r in caplog.records if "rate-limit storage failed" in r.getMessage()]
        assert len(warnings) == 1  # one warning, then no request waits on a dead Redis until the retry time
        assert limits.storage_failures == 1
        redis_server.start()
        clock.advance(5)
        await room_in_window(60, room=5)
        assert await outcomes(limits, 3) == [200, 200, 429]  # counting again (a fresh Redis, a fresh count)
    finally:
        await limits.close()


async def test_redis_down_can_fail_closed(redis_server: RedisServer) -> None:
    limits = limiter(redis_server, fail_open=False)
    try:
        redis_server.stop()
        with pytest.raises(GatewayError) as refused:
            await limits.check(limits.for_method(METHOD), "user:alice")
        assert (refused.value.http_status, refused.value.headers["Retry-After"]) == (503, "5")
    finally:
        await limits.close()
