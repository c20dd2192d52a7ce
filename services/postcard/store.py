"""Tasks and postcards as the request path sees them: create a task, read tasks and postcards.

Every read is scoped to the calling user: another user's row is indistinguishable
from a missing one (`None`), so callers answer NOT_FOUND either way.

`create_task` is the transactional outbox: the task row and its queue message
are inserted in one `BEGIN IMMEDIATE` transaction, so an acknowledged task always
has work queued for it and can always be polled. With an idempotency key the
same transaction first looks up (user_id, key): a retry gets the existing task
id; the same key with a different body raises `IdempotencyConflict`. Then
admission control, in the same transaction: with the caller's unfinished tasks,
or all unfinished tasks, at their bound (`AdmissionSettings`), nothing is written
and `AdmissionRefused` says which bound. The queue holds exactly the unfinished
tasks (a message is deleted with its task's result), so both counts read the
queue, which the bound keeps small. The write lock serialises concurrent
creates, so no two of them both take the last place; UNIQUE (user_id,
idempotency_key) backs the key's rule up. The queue message also carries the task's `TaskOrigin` (the create
call's request id and traceparent) for the worker.

`changed_tasks` serves the status watches (`watch.py`): one query for the
status of every watched task, however many, then a read per changed one.
"""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass

from services.common.sqlite import Database
from services.postcard.model import UNKNOWN_ORIGIN, PostcardRequest, TaskOrigin
from services.postcard.pagetokens import Position
from services.postcard.settings import AdmissionSettings

_POSTCARD_COLUMNS = "postcard_id, task_id, mood, style, theme, recipient, message, frontend_code, created_at"


class IdempotencyConflict(Exception):
    """The idempotency key was already used by this user for a different request."""


class AdmissionRefused(Exception):
    """A bound on unfinished tasks is reached: `bound` is "user" or "queue", `limit` its value."""

    def __init__(self, bound: str, limit: int) -> None:
        super().__init__(f"{bound} bound of {limit} unfinished tasks reached")
        self.bound = bound
        self.limit = limit


@dataclass(frozen=True)
class PostcardRecord:
    """A finished postcard without its image (fetch that with `PostcardStore.image`)."""

    postcard_id: str
    task_id: str
    mood: str
    style: str
    theme: str
    recipient: str
    message: str
    frontend_code: str
    created_at: float


@dataclass(frozen=True)
class TaskView:
    """A task's state; `postcard` is set when completed, `error` when failed."""

    task_id: str
    status: str
    error: str | None
    postcard: PostcardRecord | None


class PostcardStore:
    """Task creation and per-user reads over the shared database."""

    def __init__(self, db: Database, admission: AdmissionSettings | None = None) -> None:
        self._db = db
        self._admission = admission or AdmissionSettings()

    def create_task(
        self,
        user_id: str,
        request: PostcardRequest,
        idempotency_key: str | None = None,
        origin: TaskOrigin = UNKNOWN_ORIGIN,
    ) -> tuple[str, bool]:
        """Insert a processing task and its queue message atomically.

        Returns the task id and True, or, for a retry under the same idempotency key, the existing
        task's id and False (nothing is written then; the task keeps its first origin).
        """
        fingerprint = request.fingerprint()
        for _ in range(2):
            try:
                with self._db.transaction(immediate=True) as conn:
                    if idempotency_key is not None:
                        existing = _find_by_key(conn, user_id, idempotency_key)
                        if existing is not None:
                            if existing["request_hash"] != fingerprint:
                                raise IdempotencyConflict(idempotency_key)
                            return existing["task_id"], False
                    self._admit(conn, user_id)
                    return _insert_task(conn, user_id, request, idempotency_key, fingerprint, origin), True
            except sqlite3.IntegrityError:
                # Only reachable if another writer slipped in the same key (the write lock
                # should prevent it); the second round then finds that task.
                if idempotency_key is None:
                    raise
        raise RuntimeError("idempotent create did not converge")

    def _admit(self, conn: sqlite3.Connection, user_id: str) -> None:
        depth, mine = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(t.user_id = ?), 0) FROM queue q JOIN tasks t ON t.task_id = q.task_id",
            (user_id,),
        ).fetchone()
        if mine >= self._admission.max_unfinished_per_user:
            raise AdmissionRefused("user", self._admission.max_unfinished_per_user)
        if depth >= self._admission.max_queue_depth:
            raise AdmissionRefused("queue", self._admission.max_queue_depth)

    def task(self, user_id: str, task_id: str) -> TaskView | None:
        """The caller's task with its postcard when completed; None if unknown or not the caller's."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT task_id, status, error, postcard_id FROM tasks WHERE task_id = ? AND user_id = ?",
                (task_id, user_id),
            ).fetchone()
            return None if row is None else _task_view(conn, user_id, row)

    def postcard(self, user_id: str, postcard_id: str) -> PostcardRecord | None:
        """The caller's postcard; None if unknown or not the caller's."""
        with self._db.transaction() as conn:
            return _postcard_row(conn, user_id, postcard_id)

    def image(self, user_id: str, postcard_id: str) -> bytes | None:
        """The caller's postcard image as UTF-8 SVG bytes; None if unknown or not the caller's."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT image_svg FROM postcards WHERE postcard_id = ? AND user_id = ?", (postcard_id, user_id)
            ).fetchone()
        return None if row is None else row["image_svg"].encode()

    def list_postcards(
        self, user_id: str, limit: int, after: Position | None = None
    ) -> tuple[list[PostcardRecord], Position | None]:
        """A page of the caller's postcards, newest first (ties by postcard id, descending): at most `limit`,
        those after `after` when given; with the position of the page's last postcard when more follow."""
        where = "user_id = ?"
        params: list[object] = [user_id]
        if after is not None:
            where += " AND (created_at < ? OR (created_at = ? AND postcard_id < ?))"
            params += [after.created_at, after.created_at, after.postcard_id]
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {_POSTCARD_COLUMNS} FROM postcards WHERE {where} "
                "ORDER BY created_at DESC, postcard_id DESC LIMIT ?",
                (*params, limit + 1),  # one more than the page: is there a next one?
            ).fetchall()
        records = [PostcardRecord(**dict(row)) for row in rows[:limit]]
        more = len(rows) > limit
        return records, (Position(records[-1].created_at, records[-1].postcard_id) if more else None)


    def changed_tasks(self, known: Mapping[str, Set[str]]) -> list[TaskView]:
        """The views of the tasks in `known` whose status is not the one every watcher of it was last given.

        `known` maps a task id to the statuses its watchers were given. One read transaction: one
        query for all statuses (the ids as one JSON array parameter, so any number fits), then one
        read per changed task. Ownership was checked when each watch began.
        """
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT task_id, user_id, status, error, postcard_id FROM tasks "
                "WHERE task_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(known)),),
            ).fetchall()
            return [_task_view(conn, row["user_id"], row) for row in rows if known[row["task_id"]] != {row["status"]}]


def _task_view(conn: sqlite3.Connection, user_id: str, row: sqlite3.Row) -> TaskView:
    postcard = _postcard_row(conn, user_id, row["postcard_id"]) if row["status"] == "completed" else None
    return TaskView(task_id=row["task_id"], status=row["status"], error=row["error"], postcard=postcard)


def _find_by_key(conn: sqlite3.Connection, user_id: str, key: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT task_id, request_hash FROM tasks WHERE user_id = ? AND idempotency_key = ?", (user_id, key)
    ).fetchone()
    return row


def _insert_task(
    conn: sqlite3.Connection,
    user_id: str,
    request: PostcardRequest,
    key: str | None,
    fingerprint: str,
    origin: TaskOrigin,
) -> str:
    task_id = str(uuid.uuid4())
    now = time.time()
    conn.execute(
        "INSERT INTO tasks (task_id, user_id, status, mood, style, theme, recipient, message, "
        "idempotency_key, request_hash, created_at, updated_at) "
        "VALUES (?, ?, 'processing', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (task_id, user_id, request.mood, request.style, request.theme, request.recipient, request.message,
         key, fingerprint, now, now),
    )
    conn.execute(
        "INSERT INTO queue (task_id, enqueued_at, request_id, traceparent) VALUES (?, ?, ?, ?)",
        (task_id, now, origin.request_id, origin.traceparent),
    )
    return task_id


def _postcard_row(conn: sqlite3.Connection, user_id: str, postcard_id: str | None) -> PostcardRecord | None:
    row = conn.execute(
        f"SELECT {_POSTCARD_COLUMNS} FROM postcards WHERE postcard_id = ? AND user_id = ?", (postcard_id, user_id)
    ).fetchone()
    return None if row is None else PostcardRecord(**dict(row))
