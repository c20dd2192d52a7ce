"""Waiting for an event instead of sleeping a fixed time, and a clock the test moves by hand."""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def wait_until(
    predicate: Callable[[], object | Awaitable[object]],
    timeout: float = 10.0,  # noqa: ASYNC109 (the bound is this helper's point)
    what: str = "",
) -> None:
    """Poll `predicate` (sync or async) until it is truthy; AssertionError after `timeout` s (a generous bound)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = predicate()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what or predicate}") from None


class ManualClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
