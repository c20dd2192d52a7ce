"""Task status watches: one loop per service process follows every watched task, one query per interval.

The worker that finishes a task may run in another process, so a change reaches
the service only through the database. Rather than each WatchTaskStatus call
polling its own task, `TaskWatcher` holds every watch and, while there is one,
runs a single loop: every `interval_seconds` one read transaction asks for the
status of all watched tasks at once (`PostcardStore.changed_tasks`: one SELECT
over the primary key, however many tasks), and reads the full view only of the
tasks whose status moved; each watch of such a task gets it. The database sees
one query per interval plus one read per change, not one query per watcher per
tick. With no watch, the loop is not running.

A watch ends after a terminal status (completed or failed). `close()`, when the
server stops, ends every watch with `WatchClosed`, so that their calls end at
once (UNAVAILABLE: watch again, elsewhere) instead of holding the stop for its
whole grace.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from services.postcard.store import PostcardStore, TaskView

log = logging.getLogger(__name__)

TERMINAL = frozenset({"completed", "failed"})


class WatchClosed(Exception):
    """The service is stopping: the watch ended without a terminal status."""


@dataclass(eq=False)
class _Watch:
    status: str  # the last status this watch was given
    views: asyncio.Queue[TaskView | None] = field(default_factory=asyncio.Queue)  # None: closed


class TaskWatcher:
    """Watches of task statuses in this process; `on_poll(seconds, tasks)` hears of each check (metrics)."""

    def __init__(
        self,
        store: PostcardStore,
        interval_seconds: float,
        on_poll: Callable[[float, int], None] = lambda seconds, tasks: None,
    ) -> None:
        self._store = store
        self._interval = interval_seconds
        self._on_poll = on_poll
        self._watches: dict[str, set[_Watch]] = {}  # task id -> its watches
        self._loop: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False

    @property
    def active(self) -> int:
        """Watches waiting for a change of their task."""
        return sum(len(watches) for watches in self._watches.values())

    async def follow(self, first: TaskView) -> AsyncIterator[TaskView]:
        """The views of `first`'s task after `first`, one per change of status, ending after a terminal one.

        Nothing when `first` is terminal already. Raises WatchClosed when the watcher closes meanwhile.
        """
        if first.status in TERMINAL:
            return
        if self._closed:
            raise WatchClosed
        watch = _Watch(first.status)
        self._watches.setdefault(first.task_id, set()).add(watch)
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="task status watches")
        try:
            while True:
                view = await watch.views.get()
                if view is None:
                    raise WatchClosed
                yield view
                if view.status in TERMINAL:
                    return
        finally:
            watches = self._watches.get(first.task_id, set())
            watches.discard(watch)
            if not watches:
                self._watches.pop(first.task_id, None)

    async def close(self) -> None:
        """End every watch (WatchClosed) and the loop; later watches end at once."""
        self._closed = True
        for watches in self._watches.values():
            for watch in watches:
                watch.views.put_nowait(None)
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)

    async def _run(self) -> None:
        try:
            while self._watches:
                await asyncio.sleep(self._interval)
                if self._watches:
                    await self._check()
        finally:
            self._loop = None  # no await since the last look at _watches: a new watch starts a new loop

    async def _check(self) -> None:
        known = {task_id: {watch.status for watch in watches} for task_id, watches in self._watches.items()}
        started = time.perf_counter()
        try:
            changed = await asyncio.to_thread(self._store.changed_tasks, known)
        except Exception:
            if not self._failing:  # once per streak, not at every tick
                log.exception("checking watched tasks failed; retrying at every interval")
            self._failing = True
            return
        self._failing = False
        self._on_poll(time.perf_counter() - started, len(known))
        for view in changed:
            for watch in self._watches.get(view.task_id, ()):
                if watch.status != view.status:
                    watch.status = view.status
                    watch.views.put_nowait(view)
