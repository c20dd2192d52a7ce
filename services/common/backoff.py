"""Waiting longer after each consecutive failure, for loops that retry a dependency that is down."""
from __future__ import annotations

import asyncio
import contextlib


class Backoff:
    """Delays of `base`, 2 `base`, 4 `base`, ... at most `cap`, after consecutive failures."""

    def __init__(self, base: float, cap: float) -> None:
        self._base = base
        self._cap = max(base, cap)
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; how long to wait before the next try."""
        self.failures += 1
        return min(self._cap, self._base * 2.0 ** min(self.failures - 1, 30))

    def succeeded(self) -> int:
        """Count a success; how many failures came just before it (0: none)."""
        failures, self.failures = self.failures, 0
        return failures


def error_text(error: BaseException) -> str:
    """An exception for a log line's `error` field: "ConnectionError: Error 111 connecting to ..."."""
    return f"{type(error).__name__}: {error}"


async def pause(seconds: float, until: asyncio.Event) -> None:
    """Wait `seconds`, or less once `until` is set (a wake-up, a stop)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(until.wait(), timeout=seconds)
