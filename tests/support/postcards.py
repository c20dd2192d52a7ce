"""Finished postcards written straight into a postcard-service database, as its workers leave them.

For tests about reading many postcards (paging): generating them one by one through the queue would
only make those tests slow. The rows are the ones `TaskQueue.complete` writes: a completed task and
its postcard.
"""
from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path


def seed_postcards(db_path: Path, user_id: str, count: int, *, start: float = 1_700_000_000.0) -> list[str]:
    """`count` postcards of `user_id`, three at a time sharing a creation time (ties are ordered by id);
    their ids in the list's order, newest first."""
    rows = []
    for i in range(count):
        created_at = start + i // 3
        rows.append((str(uuid.uuid4()), str(uuid.uuid4()), created_at))
    with sqlite3.connect(db_path) as db:
        db.executemany(
            "INSERT INTO tasks (task_id, user_id, status, mood, style, theme, recipient, message, postcard_id, "
            "request_hash, created_at, updated_at) VALUES (?, ?, 'completed', 'calm', 'ink', 'rain', '', '', ?, "
            "'seeded', ?, ?)",
            [(task_id, user_id, postcard_id, created_at, created_at) for postcard_id, task_id, created_at in rows],
        )
        db.executemany(
            "INSERT INTO postcards (postcard_id, task_id, user_id, mood, style, theme, recipient, message, "
            "frontend_code, image_svg, created_at) VALUES (?, ?, ?, 'calm', 'ink', 'rain', '', '', '<view/>', "
            "'<svg/>', ?)",
            [(postcard_id, task_id, user_id, created_at) for postcard_id, task_id, created_at in rows],
        )
    return [postcard_id for postcard_id, _, _ in sorted(rows, key=lambda row: (row[2], row[0]), reverse=True)]
