"""The tables of postcard-service, shared by the service process and any number of worker processes.

`tasks` holds every creation request and its outcome; `queue` is the transactional outbox, and with
the SQLite queue backend the queue itself (one message per unfinished task, leased by workers; with
the Redis backend a message leaves it for the stream); `postcards` holds finished postcards.
Connections and transactions: `services.common.sqlite`.
"""
from __future__ import annotations

from pathlib import Path

from services.common.sqlite import Database

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
-- The unfinished tasks only (the queue's depth and oldest age, for metrics), however many finished ones.
CREATE INDEX IF NOT EXISTS tasks_processing ON tasks (created_at) WHERE status = 'processing';

-- The outbox, and with the SQLite backend the queue too: one message per unfinished task (leased by
-- workers). With the Redis backend, a message waiting to be relayed to the stream (lease columns unused).
CREATE TABLE IF NOT EXISTS queue (
    message_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id          TEXT NOT NULL UNIQUE REFERENCES tasks (task_id),
    enqueued_at      REAL NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    -- A fresh token per claim: the fencing token checked by renew/complete/fail.
    lease_token      TEXT,
    lease_expires_at REAL,
    -- Where the task came from, so the worker's logs and spans join the create request's:
    -- its x-request-id and W3C traceparent (NULL when the call had none).
    request_id       TEXT,
    traceparent      TEXT
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

# Declared above for new files; added at start-up to files created before they existed.
ADDED_COLUMNS = (
    ("queue", "request_id", "TEXT"),
    ("queue", "traceparent", "TEXT"),
)


def open_database(path: Path) -> Database:
    """The postcard database at `path`, created (directory, WAL, tables) or brought up to date if needed.

    Blocking: call in a thread.
    """
    db = Database(path, SCHEMA, added_columns=ADDED_COLUMNS)
    db.initialise()
    return db
