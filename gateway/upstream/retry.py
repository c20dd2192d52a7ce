"""When a failed try may be tried again, and how many retries a service may absorb.

A retry is allowed only for a call that is safe to repeat (the contract says
`idempotent`, or the client sent an Idempotency-Key), only after UNAVAILABLE
(which includes a connection failure), a call the server cancelled (a stopping
server cancels the calls it did not finish) or a try cut by the per-try timeout,
only on another endpoint, and only within the service's retry budget: in any
window, retries may be at most `budget_ratio` of the calls made, plus
`budget_min_per_second`. During an outage every call fails, so without a
budget each would become `max_attempts` calls: the budget keeps retries from
multiplying the load on a struggling service (Finagle's RetryBudget, Envoy's
retry_budget).
"""
from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

import grpc

from ..settings import RetrySettings

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


class RetryBudget:
    """Counts calls and retries over a sliding window of one-second buckets."""

    def __init__(self, settings: RetrySettings, clock: Callable[[], float]) -> None:
        self._ratio = settings.budget_ratio
        self._window = settings.budget_window_seconds
        self._floor = settings.budget_min_per_second * settings.budget_window_seconds
        self._clock = clock
        # (second, calls, retries), oldest first; at most `window` + 1 buckets.
        self._buckets: deque[list[int]] = deque()

    def _bucket(self) -> list[int]:
        second = int(self._clock())
        while self._buckets and self._buckets[0][0] <= second - self._window:
            self._buckets.popleft()
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        return self._buckets[-1]

    def record_call(self) -> None:
        self._bucket()[1] += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        current = self._bucket()
        calls = sum(bucket[1] for bucket in self._buckets)
        retries = sum(bucket[2] for bucket in self._buckets)
        if retries + 1 > self._ratio * calls + self._floor:
            return False
        current[2] += 1
        return True


def backoff_delay(settings: RetrySettings, retry: int, rng: random.Random) -> float:
    """Full jitter: uniform(0, min(max, base * 2**(retry - 1))) before retry number `retry` (1, 2, ...)."""
    return rng.uniform(0, min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** (retry - 1)))
