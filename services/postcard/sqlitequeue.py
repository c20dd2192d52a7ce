"""The SQLite queue backend: the `queue` table leased row by row (`settings.queue.backend = "sqlite"`).

A message is *available* when it has no lease or its lease expired (its worker
died or stalled). `claim` takes the oldest available message in a
`BEGIN IMMEDIATE` transaction, so two workers (threads or processes) never
claim the same message at once, and gives it a fresh `lease_token` and an
expiry. Each claim uses one attempt.

Fencing: `renew`, `complete` and `fail` act only while the message still
carries the caller's token. A worker whose lease expired *and* was claimed by
another worker (new token), or whose message was given up on, therefore
changes nothing and discards its result. A worker whose lease merely expired
but nobody re-claimed it still holds the token, and may finish: no one else
can be working on it. `complete` inserts the postcard, marks the task
completed and deletes the message in one transaction, so a task is completed
at most once (postcards.task_id is UNIQUE as a backstop).

Give-up: an available message whose expired lease used the last attempt
(`attempts >= max_attempts`) is not claimed again; its task is marked failed.
`release` (a clean shutdown abandoning its task) clears the lease and gives the
attempt back, so stopping workers never burns attempts.

A claim carries the task's `TaskOrigin` (the create call's request id and
traceparent), stored with its message by the request path. The methods are
the `TaskQueue` protocol's: each runs its transaction in a thread
(`asyncio.to_thread`).
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable

from services.common.sqlite import Database
from services.postcard.artwork import Artwork
from services.postcard.model import PostcardRequest, TaskOrigin
from services.postcard.taskqueue import GAVE_UP_REASON, Claim, store_completion, store_failure

log = logging.getLogger(__name__)


class SqliteTaskQueue:
    """Lease-based consumption of the queue table, shared by any number of worker processes.

    `clock` (seconds since the epoch, like `time.time`) dates leases; every process sharing the
    database must use the same time base. Tests inject a clock they move themselves.
    `on_give_up(count)` hears of tasks given up by a claim, once their failure is committed.
    """

    waits_for_work = False  # an empty claim answers at once; the pool idles (woken by notify)

    def __init__(
        self,
        db: Database,
        lease_seconds: float,
        max_attempts: int,
        clock: Callable[[], float] = time.time,
        on_give_up: Callable[[int], None] = lambda count: None,
    ) -> None:
        self._db = db
        self.lease_seconds = lease_seconds
        self._max_attempts = max_attempts
        self._clock = clock
        self._on_give_up = on_give_up

    async def claim(self, owner: str) -> Claim | None:
        """Lease the oldest available message to `owner`, or None when there is none."""
        return await asyncio.to_thread(self._claim, owner)

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease by `lease_seconds`; False when the caller no longer holds it."""
        return await asyncio.to_thread(self._renew, claim)

    async def release(self, claim: Claim) -> bool:
        """Give the message back at once (clean shutdown), returning the attempt; False if not held."""
        return await asyncio.to_thread(self._release, claim)

    async def complete(self, claim: Claim, postcard_id: str, artwork: Artwork) -> bool:
        """Store the postcard, mark the task completed, ack the message; False (nothing written) if not held."""
        return await asyncio.to_thread(self._complete, claim, postcard_id, artwork)

    async def fail(self, claim: Claim, reason: str) -> bool:
        """Mark the task failed with `reason` and ack the message; False (nothing written) if not held."""
        return await asyncio.to_thread(self._fail, claim, reason)

    async def close(self) -> None:
        """Nothing to release: every operation opens and closes its own connection."""

    def _claim(self, owner: str) -> Claim | None:
        with self._db.transaction(immediate=True) as conn:
            now = self._clock()
            given_up = self._give_up_exhausted(conn, now)
            row = conn.execute(
                "SELECT q.message_id, q.attempts, q.request_id, q.traceparent, t.task_id, t.user_id, t.mood, "
                "t.style, t.theme, t.recipient, t.message FROM queue q JOIN tasks t ON t.task_id = q.task_id "
                "WHERE q.lease_expires_at IS NULL OR q.lease_expires_at <= ? ORDER BY q.message_id LIMIT 1",
                (now,),
            ).fetchone()
            token = uuid.uuid4().hex
            if row is not None:
                conn.execute(
                    "UPDATE queue SET lease_owner = ?, lease_token = ?, lease_expires_at = ?, "
                    "attempts = attempts + 1 WHERE message_id = ?",
                    (owner, token, now + self.lease_seconds, row["message_id"]),
                )
        if given_up:
            self._on_give_up(given_up)
        if row is None:
            return None
        request = PostcardRequest(row["mood"], row["style"], row["theme"], row["recipient"], row["message"])
        origin = TaskOrigin(row["request_id"], row["traceparent"])
        return Claim(row["task_id"], row["user_id"], owner, token, row["attempts"] + 1, request, origin)

    def _renew(self, claim: Claim) -> bool:
        with self._db.transaction(immediate=True) as conn:
            cursor = conn.execute(
                "UPDATE queue SET lease_expires_at = ? WHERE task_id = ? AND lease_token = ?",
                (self._clock() + self.lease_seconds, claim.task_id, claim.lease_token),
            )
            return cursor.rowcount == 1

    def _release(self, claim: Claim) -> bool:
        with self._db.transaction(immediate=True) as conn:
            cursor = conn.execute(
                "UPDATE queue SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, "
                "attempts = MAX(attempts - 1, 0) WHERE task_id = ? AND lease_token = ?",
                (claim.task_id, claim.lease_token),
            )
            return cursor.rowcount == 1

    def _complete(self, claim: Claim, postcard_id: str, artwork: Artwork) -> bool:
        with self._db.transaction(immediate=True) as conn:
            # Holding the lease means the task is processing, so store_completion writes.
            return _holds(conn, claim) and store_completion(conn, claim, postcard_id, artwork, self._clock())

    def _fail(self, claim: Claim, reason: str) -> bool:
        with self._db.transaction(immediate=True) as conn:
            if not _holds(conn, claim):
                return False
            store_failure(conn, claim.task_id, reason, self._clock())
            return True

    def _give_up_exhausted(self, conn: sqlite3.Connection, now: float) -> int:
        rows = conn.execute(
            "SELECT task_id, attempts FROM queue WHERE attempts >= ? AND lease_expires_at <= ?",
            (self._max_attempts, now),
        ).fetchall()
        for row in rows:
            store_failure(conn, row["task_id"], GAVE_UP_REASON.format(attempts=row["attempts"]), now)
            log.warning("task given up", extra={"task_id": row["task_id"], "attempts": row["attempts"]})
        return len(rows)


def _holds(conn: sqlite3.Connection, claim: Claim) -> bool:
    row = conn.execute(
        "SELECT 1 FROM queue WHERE task_id = ? AND lease_token = ?", (claim.task_id, claim.lease_token)
    ).fetchone()
    return row is not None
