"""Queues of either backend for the queue-level tests, made over one database, with a way to let time
pass for their leases without waiting for it.

SQLite: every queue shares a `ManualClock`. Redis: every queue is a client of the test's
redis-server; `age` adds to the idle time of every pending entry (XCLAIM ... IDLE, to the same
consumer, with the same delivery count), which is all a lease's age is there.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from services.common.sqlite import Database
from services.postcard.model import PostcardRequest
from services.postcard.outbox import OutboxRelay
from services.postcard.redisqueue import RedisTaskQueue
from services.postcard.settings import AdmissionSettings, QueueSettings
from services.postcard.sqlitequeue import SqliteTaskQueue
from services.postcard.store import PostcardStore
from services.postcard.stream import async_client, sync_client
from services.postcard.taskqueue import Claim, TaskQueue
from tests.services.postcard.backends import RedisView, SqliteView
from tests.support.redis_server import RedisServer
from tests.support.waiting import ManualClock

GiveUp = Callable[[int], None]


class Queues(Protocol):
    db: Database

    def queue(self, *, max_attempts: int = 3, on_give_up: GiveUp = lambda count: None) -> TaskQueue:
        """A queue with a 30 s lease (one per worker process, as it were)."""
        ...

    async def make_tasks(self, count: int) -> list[str]:
        """Tasks created as the request path does, ready to be claimed (relayed, for Redis)."""
        ...

    async def age(self, seconds: float) -> None:
        """Every lease `seconds` older."""
        ...

    def unfinished(self) -> int: ...

    async def close(self) -> None: ...


async def one_claimed(queues: Queues, owner: str, *, max_attempts: int = 3) -> tuple[TaskQueue, Claim]:
    """A new task, claimed by `owner` from a new queue: that queue and the claim."""
    [task_id] = await queues.make_tasks(1)
    queue = queues.queue(max_attempts=max_attempts)
    claim = await queue.claim(owner)
    assert claim is not None and claim.task_id == task_id
    return queue, claim


def create_tasks(db: Database, count: int) -> list[str]:
    store = PostcardStore(db, AdmissionSettings(max_unfinished_per_user=count))  # the queue's tests, not admission's
    return [store.create_task("alice", PostcardRequest("calm", "ink", f"theme {n}"))[0] for n in range(count)]


class SqliteQueues:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = ManualClock(1_800_000_000.0)
        self._view = SqliteView(db.path)

    def queue(self, *, max_attempts: int = 3, on_give_up: GiveUp = lambda count: None) -> TaskQueue:
        return SqliteTaskQueue(self.db, lease_seconds=30, max_attempts=max_attempts, clock=self.clock,
                               on_give_up=on_give_up)

    async def make_tasks(self, count: int) -> list[str]:
        return create_tasks(self.db, count)

    async def age(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def unfinished(self) -> int:
        return self._view.unfinished()

    async def close(self) -> None:
        pass


class RedisQueues:
    def __init__(self, db: Database, server: RedisServer) -> None:
        self.db = db
        self.settings = QueueSettings(backend="redis", redis_url=server.url)
        self.view = RedisView(db.path, server.url, self.settings.stream, self.settings.group, 30)
        self.relay = OutboxRelay(db, sync_client(self.settings), self.settings.stream, poll_interval=0.05)
        self._admin = async_client(self.settings, read_timeout=5)
        self._made: list[TaskQueue] = []

    def queue(self, *, max_attempts: int = 3, on_give_up: GiveUp = lambda count: None,
              on_skip: Callable[[], None] = lambda: None) -> RedisTaskQueue:
        queue = RedisTaskQueue(
            async_client(self.settings, read_timeout=5), self.db, stream=self.settings.stream,
            group=self.settings.group, lease_seconds=30, poll_interval=0.01, max_attempts=max_attempts,
            on_give_up=on_give_up, on_skip=on_skip,
        )
        self._made.append(queue)
        return queue

    async def make_tasks(self, count: int) -> list[str]:
        task_ids = create_tasks(self.db, count)
        assert await self.relay.relay() == count
        return task_ids

    async def age(self, seconds: float) -> None:
        stream, group = self.settings.stream, self.settings.group
        for entry in await self._admin.xpending_range(stream, group, min="-", max="+", count=1000):
            await self._admin.xclaim(
                stream, group, entry["consumer"], 0, [entry["message_id"]],
                idle=entry["time_since_delivered"] + round(seconds * 1000), retrycount=entry["times_delivered"],
                justid=True,
            )

    def unfinished(self) -> int:
        return self.view.unfinished()

    async def close(self) -> None:
        for queue in self._made:
            await queue.close()
        await self.relay.stop()
        await self._admin.aclose()
        self.view.close()
