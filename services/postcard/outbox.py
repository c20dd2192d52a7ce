"""The outbox relay of the "redis" queue backend: rows of the `queue` table moved to the Redis stream.

`PostcardStore.create_task` writes each task with its `queue` row in one transaction (the outbox),
so a task acknowledged with 202 exists whatever Redis is doing. The relay moves rows to the stream
(`services.postcard.stream`) in batches: in one `BEGIN IMMEDIATE` transaction it reads up to
`batch_size` rows (oldest first, joined with their task), adds them to the stream (`XADD` in one
pipeline), deletes them, and commits.

- Redis failing (down, slow beyond its timeout): the transaction rolls back, the rows stay and are
  relayed on a later try (a warning, `postcard_outbox_relay_failures_total`, a growing back-off).
- A crash between the `XADD` and the commit leaves the rows to be relayed again: a task may have
  two entries, and workers skip the one whose task is no longer processing. Never a lost task.
- The write lock serialises relays, so relays in several processes never both send one row; an
  empty outbox is noticed with a plain read, without the lock, and Redis is asked for a PING
  before the lock is taken, so that an unreachable Redis never holds up creates (which need the
  lock too) for longer than one reply's timeout.
- After a failure the relay waits out its back-off (doubling from `poll_interval` to 5 s) even
  when tasks are created meanwhile.

Every process that opens the database runs one (the service and each `worker_main` process): at
start-up it relays what is left (a service that accepted tasks may have died before relaying them),
then whenever `notify` says a task was created in this process, and every `poll_interval` for rows
written by other processes.
"""
from __future__ import annotations

import asyncio
import logging

import redis
from prometheus_client import CollectorRegistry

from services.common.backoff import Backoff, error_text, pause
from services.common.sqlite import Database
from services.postcard.metrics import RelayMetrics
from services.postcard.settings import PostcardServiceSettings
from services.postcard.stream import entry_fields, sync_client

log = logging.getLogger(__name__)

BATCH_SIZE = 100
MAX_BACKOFF_SECONDS = 5.0

_BATCH = (
    "SELECT q.message_id, q.task_id, q.request_id, q.traceparent, t.user_id, t.mood, t.style, t.theme, "
    "t.recipient, t.message FROM queue q JOIN tasks t ON t.task_id = q.task_id ORDER BY q.message_id LIMIT ?"
)


def create_outbox_relay(
    settings: PostcardServiceSettings, db: Database, registry: CollectorRegistry
) -> OutboxRelay | None:
    """The relay a process needs with the Redis backend (metrics in `registry`); None with SQLite."""
    if settings.queue.backend != "redis":
        return None
    return OutboxRelay(
        db, sync_client(settings.queue), settings.queue.stream,
        poll_interval=settings.worker.poll_interval_seconds, metrics=RelayMetrics(registry),
    )


class OutboxRelay:
    """Moves outbox rows to the stream: `relay()` once, or `start()` .. `stop()` in the background."""

    def __init__(
        self,
        db: Database,
        client: redis.Redis,
        stream: str,
        *,
        poll_interval: float,
        metrics: RelayMetrics | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._db = db
        self._client = client
        self._stream = stream
        self._poll_interval = poll_interval
        self._metrics = metrics or RelayMetrics(CollectorRegistry())
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def relay(self) -> int:
        """Move one batch (in a thread); the number of rows moved. Raises when Redis fails (rows kept)."""
        try:
            moved = await asyncio.to_thread(self._move_batch)
        except Exception:
            self._metrics.failures.inc()
            raise
        self._metrics.relayed.inc(moved)
        return moved

    def notify(self) -> None:
        """A task was just created in this process: relay now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        """Relay in the background until `stop` (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="postcard-outbox-relay")

    async def stop(self) -> None:
        """Finish the batch in progress, stop, and close the connection."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await asyncio.to_thread(self._client.close)

    async def _run(self) -> None:
        backoff = Backoff(self._poll_interval, max(self._poll_interval, MAX_BACKOFF_SECONDS))
        while not self._stopping.is_set():
            self._wake.clear()  # before relaying: a notify() arriving meanwhile is not lost
            try:
                moved = await self.relay()
            except Exception as error:
                delay = backoff.failed()
                log.warning("relaying the outbox to Redis failed; the tasks stay in the outbox",
                            exc_info=backoff.failures == 1,
                            extra={"error": error_text(error), "failures": backoff.failures,
                                   "retry_in_seconds": delay})
                await pause(delay, self._stopping)  # not cut short by creates: Redis is down
                continue
            failures = backoff.succeeded()
            if failures:
                log.info("relaying the outbox to Redis works again", extra={"failures": failures})
            if moved:
                log.debug("outbox relayed", extra={"entries": moved})
            if moved < self._batch_size:
                await pause(self._poll_interval, self._wake)

    def _move_batch(self) -> int:
        with self._db.transaction() as conn:  # most polls find nothing: no write lock for that
            if conn.execute("SELECT 1 FROM queue LIMIT 1").fetchone() is None:
                return 0
        self._client.ping()  # Redis unreachable: fail here, not while holding the write lock
        with self._db.transaction(immediate=True) as conn:
            rows = conn.execute(_BATCH, (self._batch_size,)).fetchall()
            if not rows:
                return 0  # another process's relay was first
            pipe = self._client.pipeline(transaction=False)
            for row in rows:
                pipe.xadd(self._stream, entry_fields(row))
            pipe.execute()
            ids = [row["message_id"] for row in rows]
            conn.execute(f"DELETE FROM queue WHERE message_id IN ({', '.join('?' * len(ids))})", ids)
        return len(rows)
