"""The SQLite database of postcard-service: schema, connections and transactions.

One short-lived connection per operation (opened and closed in the calling
thread, so it is safe under `asyncio.to_thread`), in autocommit mode with
explicit transactions:

- `transaction(immediate=True)` issues `BEGIN IMMEDIATE`, taking the write lock
  up front so read-then-write sequences (claims, fenced completions,
  idempotent inserts) cannot interleave with another writer;
- `transaction()` is a deferred (read) transaction: one consistent snapshot.

WAL lets readers run while a writer holds the lock; `busy_timeout` makes a
writer wait for the lock instead of failing at once. The database is shared by
the service process and any number of worker processes.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id         TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('processing', 'completed', 'failed')),
    mood            TEXT NOT NULL,
    style           TEXT NOT NULL,
    theme           TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    message         TEXT NOT NULL,
    error           TEXT,
    postcard_id     TEXT,
    -- NULL when the call carried no idempotency-key (NULLs never collide).
    idempotency_key TEXT,
    -- Fingerprint of the request body, to tell a retry from a reused key.
    request_hash    TEXT NOT NULL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    UNIQUE (user_id, idempotency_key)
);

-- The outbox and the queue at once: one message per unfinished task.
CREATE TABLE IF NOT EXISTS queue (
    message_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id          TEXT NOT NULL UNIQUE REFERENCES tasks (task_id),
    enqueued_at      REAL NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    -- A fresh token per claim: the fencing token checked by renew/complete/fail.
    lease_token      TEXT,
    lease_expires_at REAL
);
CREATE INDEX IF NOT EXISTS queue_by_lease ON queue (lease_expires_at, message_id);

CREATE TABLE IF NOT EXISTS postcards (
    postcard_id   TEXT PRIMARY KEY,
    -- UNIQUE: a second line of defence against completing a task twice.
    task_id       TEXT NOT NULL UNIQUE REFERENCES tasks (task_id),
    user_id       TEXT NOT NULL,
    mood          TEXT NOT NULL,
    style         TEXT NOT NULL,
    theme         TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    message       TEXT NOT NULL,
    frontend_code TEXT NOT NULL,
    image_svg     TEXT NOT NULL,
    created_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS postcards_by_user ON postcards (user_id, created_at DESC);
"""


class Database:
    """A SQLite file shared by the service and its workers."""

    def __init__(self, path: Path | str, busy_timeout_seconds: float = 10.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout_seconds

    def initialise(self) -> None:
        """Create the directory, switch to WAL and create the schema (idempotent, safe to race)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connect()
        try:
            # journal_mode is persistent in the file; setting it again is a no-op.
            connection.execute("PRAGMA journal_mode = WAL")
            connection.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;")
        finally:
            connection.close()

    @contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction: committed on success, rolled back on any exception."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield connection
            except BaseException:
                # SQLite may already have rolled back (e.g. on SQLITE_FULL); don't mask the error.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we issue BEGIN/COMMIT ourselves.
        connection = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys = ON")
        return connection
