"""The users table on its own: one user per open_id, even with racing logins and two processes."""
from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.user.store import UserStore


async def test_a_user_is_created_once_and_found_afterwards(tmp_path: Path) -> None:
    store = await UserStore.open(tmp_path / "deep" / "users.sqlite3")  # the directory is created
    try:
        created, was_created = await store.get_or_create("o-1")
        found, found_created = await store.get_or_create("o-1")
        assert (was_created, found_created) == (True, False)
        assert found == created
        assert await store.get(created.user_id) == created
        assert await store.get("no-such-user") is None
        assert created.created_at.tzinfo == UTC
        assert abs((datetime.now(UTC) - created.created_at).total_seconds()) < 5
    finally:
        await store.close()


async def test_users_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite3"
    store = await UserStore.open(path)
    user, _ = await store.get_or_create("o-1")
    await store.close()
    store = await UserStore.open(path)
    try:
        assert await store.get(user.user_id) == user
    finally:
        await store.close()


async def test_two_stores_on_one_file_racing_create_one_user(tmp_path: Path) -> None:
    # Two connections on one file behave like two replicas of the service.
    path = tmp_path / "users.sqlite3"
    stores = [await UserStore.open(path), await UserStore.open(path)]
    try:
        results = await asyncio.gather(*(stores[i % 2].get_or_create("o-race") for i in range(40)))
        assert sum(created for _, created in results) == 1
        assert len({user.user_id for user, _ in results}) == 1
    finally:
        for store in stores:
            await store.close()
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT count(*) FROM users").fetchone()[0] == 1
    finally:
        connection.close()


async def test_a_closed_store_refuses_work_and_closes_once(tmp_path: Path) -> None:
    store = await UserStore.open(tmp_path / "users.sqlite3")
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("u")
