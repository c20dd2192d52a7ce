"""Caps on open streams: per caller and in this process, checked before a stream opens.

A stream holds a connection, an in-flight request of the HTTP server and an
upstream call for as long as it lasts, so the number open at once is capped:

- per caller (the authenticated user, else the client's address), beyond
  `max_per_caller`: 429 RESOURCE_EXHAUSTED, no Retry-After (waiting does not
  help; closing one of the caller's streams does);
- in this process, beyond the total cap: 503 UNAVAILABLE with Retry-After, so
  that the client tries again, perhaps on another replica.

Counts live in this process's memory: each gateway replica caps its own.
"""
from __future__ import annotations

from collections import Counter

import grpc

from ..errors import GatewayError
from ..observability.metrics import GatewayMetrics

RETRY_AFTER_SECONDS = "1"


class Slot:
    """One admitted stream; `release` (idempotent) gives its place back."""

    def __init__(self, slots: StreamSlots, caller: str, route: str) -> None:
        self._slots = slots
        self._caller = caller
        self._route = route
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._release(self._caller, self._route)


class StreamSlots:
    def __init__(self, max_per_caller: int, max_total: int, metrics: GatewayMetrics) -> None:
        self.max_per_caller = max_per_caller
        self.max_total = max_total
        self._metrics = metrics
        self._by_caller: Counter[str] = Counter()
        self.open = 0

    def admit(self, caller: str, route: str) -> Slot:
        """A slot for one more stream of `caller` on `route`; GatewayError 503 or 429 beyond the caps."""
        if self._by_caller[caller] >= self.max_per_caller:  # first: waiting would not help this caller
            self._metrics.rate_limited.labels(route, "streams").inc()
            raise GatewayError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"at most {self.max_per_caller} open streams per caller: close one first")
        if self.open >= self.max_total:
            self._metrics.shed_request("streams")
            raise GatewayError(grpc.StatusCode.UNAVAILABLE, "too many open streams; retry shortly",
                               headers={"Retry-After": RETRY_AFTER_SECONDS})
        self._by_caller[caller] += 1
        self.open += 1
        self._metrics.streams_open.labels(route).inc()
        return Slot(self, caller, route)

    def _release(self, caller: str, route: str) -> None:
        self._by_caller[caller] -= 1
        if self._by_caller[caller] <= 0:
            del self._by_caller[caller]  # bounded by the callers with open streams
        self.open -= 1
        self._metrics.streams_open.labels(route).dec()
