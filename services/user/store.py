"""Users in SQLite: one row per WeChat open_id, created on first login.

All database work runs on one dedicated thread with one connection, so the event loop never blocks
and the connection is never shared between threads. The connection is in autocommit mode: every
statement is its own transaction. WAL lets readers run beside the writer, and ``busy_timeout``
makes a second process (another replica on the same file) wait for the lock instead of failing.

``get_or_create`` is safe under concurrency, inside one process and across processes: the insert
is ``ON CONFLICT(open_id) DO NOTHING`` and the row is then read back, so simultaneous first logins
of one WeChat user yield one user, and exactly one of them reports it as created.
"""
from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id    TEXT PRIMARY KEY,
    open_id    TEXT NOT NULL UNIQUE,
    nickname   TEXT NOT NULL DEFAULT '',
    avatar_url TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL  -- ISO 8601, UTC
)
"""
COLUMNS = "user_id, open_id, nickname, avatar_url, created_at"
BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    open_id: str
    nickname: str
    avatar_url: str
    created_at: datetime  # timezone-aware, UTC


class UserStore:
    """The users table. Use ``await UserStore.open(path)``; ``await close()`` when done."""

    def __init__(self, executor: ThreadPoolExecutor, connection: sqlite3.Connection) -> None:
        self._executor: ThreadPoolExecutor | None = executor
        self._db = connection

    @classmethod
    async def open(cls, path: Path) -> UserStore:
        """Open (creating the file, its directory and the table if needed) the database at ``path``."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="user-store")
        try:
            connection = await asyncio.get_running_loop().run_in_executor(executor, _connect, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, connection)

    async def close(self) -> None:
        """Close the connection and stop the thread. Idempotent."""
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        await asyncio.get_running_loop().run_in_executor(executor, self._db.close)
        executor.shutdown(wait=True)

    async def get_or_create(self, open_id: str) -> tuple[User, bool]:
        """The user with this open_id, created if there is none; and whether this call created it."""
        return await self._run(self._get_or_create, open_id)

    async def get(self, user_id: str) -> User | None:
        """The user with this user_id, or None."""
        return await self._run(self._get, user_id)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            raise RuntimeError("UserStore is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # Below: runs on the store's thread only.

    def _get_or_create(self, open_id: str) -> tuple[User, bool]:
        created_at = datetime.now(UTC).isoformat(timespec="microseconds")
        cursor = self._db.execute(
            "INSERT INTO users (user_id, open_id, created_at) VALUES (?, ?, ?) ON CONFLICT(open_id) DO NOTHING",
            (str(uuid.uuid4()), open_id, created_at),
        )
        created = cursor.rowcount == 1
        row = self._db.execute(f"SELECT {COLUMNS} FROM users WHERE open_id = ?", (open_id,)).fetchone()
        if row is None:  # Only if someone deleted the row in between: a bug or manual surgery.
            raise RuntimeError("user row vanished right after its insert")
        return _user(row), created

    def _get(self, user_id: str) -> User | None:
        row = self._db.execute(f"SELECT {COLUMNS} FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return _user(row) if row else None


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: autocommit, each statement commits on its own. Created on the store's
    # thread, so sqlite3's same-thread check guards against any use from elsewhere.
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(SCHEMA)
    except BaseException:
        connection.close()
        raise
    return connection


def _user(row: tuple[str, str, str, str, str]) -> User:
    user_id, open_id, nickname, avatar_url, created_at = row
    return User(user_id, open_id, nickname, avatar_url, datetime.fromisoformat(created_at))
