"""Rate limits in this process's memory: enforced, and expired callers freed by the throttled sweep."""
from __future__ import annotations

import asyncio
import time

import pytest

from gateway.errors import GatewayError
from gateway.policy.ratelimit import RateLimits, SweptMemoryStorage
from gateway.settings import RateLimitSettings
from tests.support.waiting import room_in_window, wait_until

METHOD = "pkg.Service.Method"


@pytest.mark.parametrize("strategy", ["sliding-window-counter", "moving-window", "fixed-window"])
async def test_each_strategy_enforces_the_limit_per_caller(strategy: str) -> None:
    limits = RateLimits(RateLimitSettings(strategy=strategy, routes={METHOD: "3/minute"}))
    await room_in_window(60, room=5)  # the hits below take milliseconds
    for caller in ("user:a", "user:b"):
        for _ in range(3):
            await limits.check(limits.for_method(METHOD), caller)
        with pytest.raises(GatewayError) as refused:
            await limits.check(limits.for_method(METHOD), caller)
        assert refused.value.http_status == 429


async def test_the_sweep_runs_at_most_once_per_interval_and_frees_expired_callers() -> None:
    storage = SweptMemoryStorage()
    sweeps = 0
    original = storage._MemoryStorage__expire_events  # type: ignore[attr-defined]

    async def counted() -> None:
        nonlocal sweeps
        sweeps += 1
        await original()

    storage._MemoryStorage__expire_events = counted  # type: ignore[attr-defined]
    for n in range(2000):
        await storage.incr(f"caller-{n}", expiry=0.01)
        await asyncio.sleep(0)  # let a sweep run, as between requests
    assert sweeps <= 2  # the library alone would have swept after nearly every one of the 2,000

    expired_after = time.time() + 0.01
    await wait_until(lambda: time.time() > expired_after, what="every caller's window has expired")
    storage._next_sweep = 0.0  # the interval has passed
    await storage.incr("one-more", expiry=60)
    await wait_until(lambda: len(storage.storage) == 1, what="expired callers freed by the next sweep")
    assert list(storage.storage) == ["one-more"]
