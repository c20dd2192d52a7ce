"""Users as the login path sees them: find or create by WeChat open_id, read by user id.

Synchronous, one connection per operation (`services.common.sqlite`); the servicer calls it with
`asyncio.to_thread`. Several processes (replicas) may share the file.

``get_or_create`` is safe under concurrency, inside one process and across processes: the insert
is ``ON CONFLICT(open_id) DO NOTHING`` and the row is then read back in the same ``BEGIN
IMMEDIATE`` transaction, so simultaneous first logins of one WeChat user yield one user, and
exactly one of them reports it as created.
"""
from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from services.common.sqlite import Database
from services.user.model import User

COLUMNS = "user_id, open_id, nickname, avatar_url, created_at"


class UserStore:
    """The users table over a shared database; `clock` gives `created_at` (injected by tests)."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._db = db
        self._clock = clock

    def get_or_create(self, open_id: str) -> tuple[User, bool]:
        """The user with this open_id, created if there is none; and whether this call created it."""
        created_at = self._clock().astimezone(UTC).isoformat(timespec="microseconds")
        with self._db.transaction(immediate=True) as conn:
            cursor = conn.execute(
                "INSERT INTO users (user_id, open_id, created_at) VALUES (?, ?, ?) ON CONFLICT(open_id) DO NOTHING",
                (str(uuid.uuid4()), open_id, created_at),
            )
            created = cursor.rowcount == 1
            row = conn.execute(f"SELECT {COLUMNS} FROM users WHERE open_id = ?", (open_id,)).fetchone()
        assert row is not None  # inserted, or already there, within this very transaction
        return _user(row), created

    def get(self, user_id: str) -> User | None:
        """The user with this user_id, or None."""
        with self._db.transaction() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return _user(row) if row else None


def _user(row: sqlite3.Row) -> User:
    return User(
        row["user_id"], row["open_id"], row["nickname"], row["avatar_url"], datetime.fromisoformat(row["created_at"])
    )
