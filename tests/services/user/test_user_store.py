"""The users table on its own: one user per open_id, even with racing logins and two processes."""
from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from services.user.schema import open_database
from services.user.store import UserStore

A_MOMENT = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=timezone(timedelta(hours=8)))


def test_a_user_is_created_once_and_found_afterwards(tmp_path: Path) -> None:
    store = UserStore(open_database(tmp_path / "deep" / "users.sqlite3"), clock=lambda: A_MOMENT)  # directory made

    created, was_created = store.get_or_create("o-1")
    found, found_created = store.get_or_create("o-1")

    assert (was_created, found_created) == (True, False)
    assert found == created
    assert store.get(created.user_id) == created
    assert store.get("no-such-user") is None
    assert created.created_at == A_MOMENT  # the clock's moment, kept to the microsecond
    assert created.created_at.tzinfo == UTC


def test_users_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite3"
    user, _ = UserStore(open_database(path)).get_or_create("o-1")

    assert UserStore(open_database(path)).get(user.user_id) == user


def test_two_stores_on_one_file_racing_create_one_user(tmp_path: Path) -> None:
    # Two databases on one file behave like two replicas of the service; threads make them race.
    path = tmp_path / "users.sqlite3"
    stores = [UserStore(open_database(path)), UserStore(open_database(path))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: stores[i % 2].get_or_create("o-race"), range(40)))

    assert sum(created for _, created in results) == 1
    assert len({user.user_id for user, _ in results}) == 1
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT count(*) FROM users").fetchone()[0] == 1
    finally:
        connection.close()
