"""Choosing an endpoint: healthy ones only, then the less loaded of two at random.

Eligible: health SERVING and a breaker that lets a call through. Until the
first health reports arrive (start-up, a new DNS address), endpoints not yet
reported are used only when no endpoint is known to be SERVING.

Among the eligible, power of two choices on in-flight calls: pick two at
random, take the one with fewer calls in flight. Unlike round robin, a slow or
stalling endpoint (longer calls, so more in flight) gets less new traffic as
soon as it slows down, before its breaker or health check notices; unlike
"least in flight over all", the random pair keeps several gateway processes
from all herding onto the same momentarily idle endpoint.
"""
from __future__ import annotations

import random
from collections.abc import Collection, Sequence

from .endpoint import Endpoint
from .health import PENDING


def eligible(endpoints: Sequence[Endpoint], exclude: Collection[Endpoint] = ()) -> list[Endpoint]:
    serving = [e for e in endpoints if e.status == "SERVING" and e not in exclude]
    if not serving and not any(e.status == "SERVING" for e in endpoints):
        serving = [e for e in endpoints if e.status == PENDING and e not in exclude]
    return [e for e in serving if e.breaker.allows_calls()]


def pick(endpoints: Sequence[Endpoint], exclude: Collection[Endpoint], rng: random.Random) -> Endpoint | None:
    """An eligible endpoint not in `exclude` (those already tried), or None."""
    candidates = eligible(endpoints, exclude)
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    first, second = rng.sample(candidates, 2)
    return first if first.in_flight <= second.in_flight else second
