"""The table of the user-service: one row per WeChat open_id, created on first login.

Connections and transactions: `services.common.sqlite`.
"""
from __future__ import annotations

from pathlib import Path

from services.common.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id    TEXT PRIMARY KEY,
    open_id    TEXT NOT NULL UNIQUE,
    nickname   TEXT NOT NULL DEFAULT '',
    avatar_url TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL  -- ISO 8601, UTC
);
"""


def open_database(path: Path) -> Database:
    """The users database at `path`, created (directory, WAL, table) if needed. Blocking: call in a thread."""
    db = Database(path, SCHEMA)
    db.initialise()
    return db
