"""The retry budget and the backoff: retries stay a bounded fraction of recent calls."""
from __future__ import annotations

import random

import pytest

from gateway.settings import RetrySettings
from gateway.upstream.retry import RetryBudget, backoff_delay
from tests.support.waiting import ManualClock


def budget(clock: ManualClock, **settings: float) -> RetryBudget:
    return RetryBudget(RetrySettings(**settings), clock)


def spend_all(budget: RetryBudget) -> int:
    spent = 0
    while budget.try_spend():
        spent += 1
    return spent


def test_ratio_of_recent_calls_plus_a_floor() -> None:
    clock = ManualClock()
    retries = budget(clock, budget_ratio=0.2, budget_window_seconds=10, budget_min_per_second=0.5)
    for _ in range(100):
        retries.record_call()
    assert spend_all(retries) == 20 + 5  # 20% of 100 calls, plus 0.5/s over 10 s


def test_no_floor_and_no_calls_means_no_retries() -> None:
    retries = budget(ManualClock(), budget_ratio=0.2, budget_min_per_second=0)
    assert not retries.try_spend()


def test_the_window_slides() -> None:
    clock = ManualClock()
    retries = budget(clock, budget_ratio=0.5, budget_window_seconds=10, budget_min_per_second=0)
    for _ in range(10):
        retries.record_call()
    assert spend_all(retries) == 5
    clock.advance(10)  # those calls and retries are out of the window
    for _ in range(4):
        retries.record_call()
    assert spend_all(retries) == 2


@pytest.mark.parametrize("retry", [1, 2, 3, 8])
def test_backoff_is_full_jitter_below_the_cap(retry: int) -> None:
    settings = RetrySettings(backoff_base_seconds=0.025, backoff_max_seconds=0.25)
    rng = random.Random(retry)
    delays = [backoff_delay(settings, retry, rng) for _ in range(200)]
    cap = min(0.25, 0.025 * 2 ** (retry - 1))
    assert all(0 <= delay <= cap for delay in delays)
    assert max(delays) > cap / 2  # spread over the range, not fixed
