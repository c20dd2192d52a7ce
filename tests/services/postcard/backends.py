"""The two queue backends as the postcard tests see them: which ones, and the queue's state read as
another process would (SQLite rows; Redis pending entries through a client of the test's own).

A test marked `both_backends` runs once per backend: `make_settings` then points at a fresh
redis-server of the test for "redis".
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
import redis

from services.postcard.settings import PostcardServiceSettings
from tests.services.postcard.support import WorkerProcess, count_rows, query

BACKENDS = ("sqlite", "redis")
both_backends = pytest.mark.parametrize("backend", BACKENDS)


@dataclass(frozen=True)
class Holding:
    """A task's claim: the worker that holds (or held) it, the attempt, and the seconds until another
    worker may take it over (0 or less: it may now)."""

    owner: str
    attempts: int
    lease_left: float


class QueueView(Protocol):
    def holding(self, task_id: str) -> Holding | None:
        """The claim on the task, expired or not; None while no worker has it."""
        ...

    def attempts(self, task_id: str) -> int:
        """Attempts the task has used (0: none, or its only one was given back)."""
        ...

    def unfinished(self) -> int:
        """Messages of unfinished tasks, wherever they wait (outbox, queue, stream)."""
        ...

    def close(self) -> None: ...


async def wait_for_claim(view: QueueView, task_id: str, worker: WorkerProcess, within: float = 15.0) -> Holding:
    """The task's claim once `worker` holds it; fails after `within` seconds or if the worker exits."""
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.05) + 1):
        holding = view.holding(task_id)
        if holding is not None and f":{worker.pid}:" in holding.owner and holding.lease_left > 0:
            return holding
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited early: {worker.log_path.read_text()}")
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"worker {worker.pid} did not claim {task_id}: {worker.log_path.read_text()}")


OpenView = Callable[[PostcardServiceSettings], QueueView]


def view_of(settings: PostcardServiceSettings) -> QueueView:
    queue = settings.queue
    if queue.backend == "redis":
        return RedisView(settings.db_path, queue.redis_url or "", queue.stream, queue.group,
                         settings.worker.lease_seconds)
    return SqliteView(settings.db_path)


class SqliteView:
    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path

    def holding(self, task_id: str) -> Holding | None:
        rows = query(self._db_path, "SELECT lease_owner, attempts, lease_expires_at FROM queue WHERE task_id = ?",
                     task_id)
        if not rows or rows[0][0] is None:
            return None
        owner, attempts, expires_at = rows[0]
        return Holding(owner, attempts, expires_at - time.time())

    def attempts(self, task_id: str) -> int:
        rows = query(self._db_path, "SELECT attempts FROM queue WHERE task_id = ?", task_id)
        return rows[0][0] if rows else 0

    def unfinished(self) -> int:
        return count_rows(self._db_path, "queue")

    def close(self) -> None:
        pass


class RedisView:
    def __init__(self, db_path: Path, url: str, stream: str, group: str, lease_seconds: float) -> None:
        self._db_path = db_path
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self.stream = stream
        self.group = group
        self._lease = lease_seconds

    @property
    def client(self) -> redis.Redis:
        return self._client

    def entries(self, task_id: str) -> list[str]:
        """The ids of the stream entries for the task (more than one: a duplicate)."""
        return [entry_id for entry_id, fields in self._client.xrange(self.stream) if fields["task_id"] == task_id]

    def holding(self, task_id: str) -> Holding | None:
        for entry_id in self.entries(task_id):
            pending = self._pending(entry_id)
            if pending is not None:
                return Holding(pending["consumer"], pending["times_delivered"],
                               self._lease - pending["time_since_delivered"] / 1000)
        return None

    def attempts(self, task_id: str) -> int:
        holding = self.holding(task_id)
        return holding.attempts if holding is not None else 0

    def unfinished(self) -> int:
        return count_rows(self._db_path, "queue") + self._client.xlen(self.stream)

    def pending_count(self) -> int:
        return int(self._client.xpending(self.stream, self.group)["pending"])

    def consumers(self) -> dict[str, int]:
        """The group's consumers and how many entries each holds."""
        return {c["name"]: c["pending"] for c in self._client.xinfo_consumers(self.stream, self.group)}

    def close(self) -> None:
        self._client.close()

    def _pending(self, entry_id: str) -> dict | None:
        try:
            rows = self._client.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        except redis.ResponseError as error:
            if "NOGROUP" in str(error):
                return None  # no worker has asked for work yet
            raise
        return rows[0] if rows else None
