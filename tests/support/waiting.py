"""Waiting for an event instead of sleeping a fixed time, and a clock the test moves by hand."""
from __future__ import annotations

import asyncio
import inspect
import time
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


async def room_in_window(period: float, room: float) -> None:
    """Wait until the clock window of `period` s holds at least `room` s more.

    `limits`' fixed-window and sliding-window-counter strategies align their windows to the epoch. At a
    window's edge a fixed window starts again from zero and a sliding counter weighs the previous window
    a little less: the request after the limit may pass. A test that counts to a limit with either
    strategy calls this first, so that its hits fall in one window.
    """
    await wait_until(lambda: period - time.time() % period >= room, period, f"{room} s left in a {period} s window")
