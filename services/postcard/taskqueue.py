"""The task queue as workers see it, whichever backend holds it: claims, renewal, fenced results.

`TaskQueue` is what a `WorkerPool` uses; `settings.queue.backend` chooses the implementation:

- "sqlite" (`services.postcard.sqlitequeue`): the `queue` table leased row by row;
- "redis" (`services.postcard.redisqueue`): a Redis stream read by a consumer group, fed from the
  `queue` table (the transactional outbox) by `services.postcard.outbox`.

What both guarantee:

- A task accepted by `CreatePostcard` (its row is in `queue`, committed with the task) is delivered
  to a worker at least once; a worker that dies mid-task leaves it to be claimed again after
  `lease_seconds` without renewal, up to `max_attempts` claims, after which the task is failed with
  `GAVE_UP_REASON`.
- A claim is fenced: `renew`, `release`, `complete` and `fail` act only while the claim is still the
  caller's (no other worker took the task over); otherwise they change nothing and return False.
- A task is completed (or failed) at most once: the result is written only to a task still
  `processing` (`store_completion`, `store_failure`), in one SQLite transaction; `postcards.task_id`
  is UNIQUE as a backstop.
- `release` (a worker stopping cleanly) gives the task back at once without using an attempt.

A claim carries what the worker generates from (the task's request) and the task's `TaskOrigin`
(the create call's request id and traceparent).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Protocol

from services.postcard.artwork import Artwork
from services.postcard.model import UNKNOWN_ORIGIN, PostcardRequest, TaskOrigin

GAVE_UP_REASON = "generation failed: the worker stopped before finishing, {attempts} attempt(s) made"


@dataclass(frozen=True)
class Claim:
    """A claimed task: what to generate, and what proves the claim (`owner`, `lease_token`, `attempts`).

    `lease_token`: SQLite, a fresh random token per claim; Redis, the stream entry's id (the claim is
    then proven by the entry being pending for `owner` with `attempts` deliveries).
    """

    task_id: str
    user_id: str
    owner: str
    lease_token: str
    attempts: int
    request: PostcardRequest
    origin: TaskOrigin = UNKNOWN_ORIGIN


class TaskQueue(Protocol):
    """The queue a `WorkerPool` consumes. Every method may raise when its storage is unavailable
    (a locked database, Redis down): the pool logs, backs off and tries again."""

    # How long a claim lasts without renewal; the pool renews every lease_seconds / 3.
    lease_seconds: float
    # True when an empty `claim` has already waited up to the poll interval for work (Redis's
    # XREADGROUP BLOCK); False when it answers at once and the pool waits (woken by `notify`).
    waits_for_work: bool

    async def claim(self, owner: str) -> Claim | None:
        """The next task for worker `owner`, or None when there is none."""
        ...

    async def renew(self, claim: Claim) -> bool:
        """Restart the claim's lease; False when the caller no longer holds it."""
        ...

    async def release(self, claim: Claim) -> bool:
        """Give the task back at once, returning its attempt; False when the caller no longer holds it."""
        ...

    async def complete(self, claim: Claim, postcard_id: str, artwork: Artwork) -> bool:
        """Store the postcard and mark the task completed; False (nothing written) when not held."""
        ...

    async def fail(self, claim: Claim, reason: str) -> bool:
        """Mark the task failed with `reason`; False (nothing written) when not held."""
        ...

    async def close(self) -> None:
        """Release what the queue holds (connections, its consumers); after the workers stopped."""
        ...


def store_completion(conn: sqlite3.Connection, claim: Claim, postcard_id: str, artwork: Artwork, now: float) -> bool:
    """In the caller's write transaction: the postcard stored and its task completed, if the task is still
    processing (False, nothing written, otherwise); the task's outbox row, if any, goes too."""
    cursor = conn.execute(
        "UPDATE tasks SET status = 'completed', postcard_id = ?, updated_at = ? "
        "WHERE task_id = ? AND status = 'processing'",
        (postcard_id, now, claim.task_id),
    )
    if cursor.rowcount != 1:
        return False
    req = claim.request
    conn.execute(
        "INSERT INTO postcards (postcard_id, task_id, user_id, mood, style, theme, recipient, message, "
        "frontend_code, image_svg, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (postcard_id, claim.task_id, claim.user_id, req.mood, req.style, req.theme, req.recipient,
         req.message, artwork.frontend_code, artwork.svg, now),
    )
    conn.execute("DELETE FROM queue WHERE task_id = ?", (claim.task_id,))
    return True


def store_failure(conn: sqlite3.Connection, task_id: str, reason: str, now: float) -> bool:
    """In the caller's write transaction: the task failed with `reason` if it is still processing (False,
    nothing written, otherwise); the task's outbox row, if any, goes too."""
    cursor = conn.execute(
        "UPDATE tasks SET status = 'failed', error = ?, updated_at = ? WHERE task_id = ? AND status = 'processing'",
        (reason, now, task_id),
    )
    conn.execute("DELETE FROM queue WHERE task_id = ?", (task_id,))
    return cursor.rowcount == 1
