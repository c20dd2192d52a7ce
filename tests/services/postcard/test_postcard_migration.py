"""A database made before the queue carried the create call's origin still works after start-up."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from services.postcard.schema import open_database
from tests.services.postcard.support import MakeSettings, Serve, count_rows, query

# The tables as the first release created them (the queue had no request_id / traceparent yet).
FIRST_RELEASE_SCHEMA = """
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('processing', 'completed', 'failed')),
    mood TEXT NOT NULL, style TEXT NOT NULL, theme TEXT NOT NULL, recipient TEXT NOT NULL, message TEXT NOT NULL,
    error TEXT, postcard_id TEXT, idempotency_key TEXT, request_hash TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, UNIQUE (user_id, idempotency_key)
);
CREATE TABLE queue (
    message_id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL UNIQUE REFERENCES tasks (task_id),
    enqueued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_token TEXT,
    lease_expires_at REAL
);
CREATE INDEX queue_by_lease ON queue (lease_expires_at, message_id);
CREATE TABLE postcards (
    postcard_id TEXT PRIMARY KEY, task_id TEXT NOT NULL UNIQUE REFERENCES tasks (task_id), user_id TEXT NOT NULL,
    mood TEXT NOT NULL, style TEXT NOT NULL, theme TEXT NOT NULL, recipient TEXT NOT NULL, message TEXT NOT NULL,
    frontend_code TEXT NOT NULL, image_svg TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX postcards_by_user ON postcards (user_id, created_at DESC);
INSERT INTO tasks VALUES ('old-task', 'alice', 'processing', 'calm', 'ink', 'rain', '', '', NULL, NULL, NULL,
                          'hash', 1.0, 1.0);
INSERT INTO queue (task_id, enqueued_at) VALUES ('old-task', 1.0);
"""


def first_release_database(path: Path) -> Path:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(FIRST_RELEASE_SCHEMA)
    finally:
        connection.close()
    return path


def queue_columns(path: Path) -> list[str]:
    return [row[1] for row in query(path, "PRAGMA table_info(queue)")]


def test_opening_adds_the_missing_columns_once_and_keeps_the_rows(tmp_path: Path) -> None:
    path = first_release_database(tmp_path / "postcards.sqlite3")

    open_database(path)
    open_database(path)  # a second start (or a second process) finds nothing to add

    assert queue_columns(path)[-2:] == ["request_id", "traceparent"]
    assert query(path, "SELECT task_id, request_id, traceparent FROM queue") == [("old-task", None, None)]


async def test_a_service_started_on_it_finishes_the_old_task_and_new_ones(
    tmp_path: Path, serve: Serve, make_settings: MakeSettings
) -> None:
    path = first_release_database(tmp_path / "postcards.sqlite3")

    async with serve(make_settings(db_path=path)) as running:
        assert (await running.wait_finished("alice", "old-task")).status == "completed"
        task_id = await running.create("bob")
        assert (await running.wait_finished("bob", task_id)).status == "completed"

    assert count_rows(path, "postcards") == 2
