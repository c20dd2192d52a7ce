"""The lease protocol on a real SQLite file: claims, expiry, fencing, give-up, release, concurrency."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from services.common.sqlite import Database
from services.postcard.artwork import render
from services.postcard.model import PostcardRequest
from services.postcard.schema import open_database
from services.postcard.settings import AdmissionSettings
from services.postcard.store import PostcardStore
from services.postcard.taskqueue import TaskQueue
from tests.services.postcard.support import count_rows, query
from tests.support.waiting import ManualClock

REQUEST = PostcardRequest(mood="calm", style="ink", theme="mountains")


@pytest.fixture
def clock() -> ManualClock:
    """Lease expiry without waiting for real time to pass."""
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_database(tmp_path / "queue.sqlite3")


def make_tasks(db: Database, count: int) -> list[str]:
    store = PostcardStore(db, AdmissionSettings(max_unfinished_per_user=count))  # the queue's tests, not admission's
    return [store.create_task("alice", PostcardRequest("calm", "ink", f"theme {n}"))[0] for n in range(count)]


def test_database_uses_wal(db: Database) -> None:
    assert query(db.path, "PRAGMA journal_mode") == [("wal",)]


def test_claims_oldest_first_and_never_twice(db: Database) -> None:
    first, second = make_tasks(db, 2)
    queue = TaskQueue(db, lease_seconds=30, max_attempts=3)

    claims = [queue.claim("w1"), queue.claim("w2"), queue.claim("w3")]

    assert [c.task_id if c else None for c in claims] == [first, second, None]


def test_a_lease_is_exclusive_until_it_expires(db: Database, clock: ManualClock) -> None:
    make_tasks(db, 1)
    queue = TaskQueue(db, lease_seconds=30, max_attempts=3, clock=clock)
    holder = queue.claim("worker-1")

    clock.advance(29.9)
    assert queue.claim("worker-2") is None
    assert queue.renew(holder)  # a live worker extends its lease: 30 s from now
    clock.advance(29.9)
    assert queue.claim("worker-2") is None
    clock.advance(0.1)
    assert queue.claim("worker-2") is not None


def test_expired_lease_is_reclaimed_and_the_old_holder_is_fenced_off(db: Database, clock: ManualClock) -> None:
    [task_id] = make_tasks(db, 1)
    queue = TaskQueue(db, lease_seconds=30, max_attempts=3, clock=clock)
    stale = queue.claim("dead-worker")
    clock.advance(30)

    fresh = queue.claim("live-worker")

    assert fresh is not None and fresh.task_id == task_id and fresh.attempts == 2
    assert not queue.renew(stale)
    assert not queue.complete(stale, "p-stale", render(REQUEST, "/x"))
    assert not queue.fail(stale, "stale")
    assert queue.complete(fresh, "p-fresh", render(REQUEST, "/x"))
    assert query(db.path, "SELECT postcard_id, task_id FROM postcards") == [("p-fresh", task_id)]
    assert query(db.path, "SELECT status, postcard_id FROM tasks") == [("completed", "p-fresh")]
    assert count_rows(db.path, "queue") == 0
    # A second completion by the winner is impossible too: the message is gone.
    assert not queue.complete(fresh, "p-again", render(REQUEST, "/x"))


def test_expired_but_unclaimed_lease_may_still_finish(db: Database, clock: ManualClock) -> None:
    make_tasks(db, 1)
    queue = TaskQueue(db, lease_seconds=30, max_attempts=3, clock=clock)
    claim = queue.claim("slow-worker")
    clock.advance(60)

    assert queue.renew(claim)
    assert queue.complete(claim, "p1", render(REQUEST, "/x"))


def test_gives_up_after_max_attempts(db: Database, clock: ManualClock) -> None:
    [task_id] = make_tasks(db, 1)
    queue = TaskQueue(db, lease_seconds=30, max_attempts=3, clock=clock)
    for attempt in (1, 2, 3):
        claim = queue.claim(f"crashing-{attempt}")
        assert claim is not None and claim.attempts == attempt
        clock.advance(30)

    assert queue.claim("next") is None
    [(status, error)] = query(db.path, "SELECT status, error FROM tasks WHERE task_id = ?", task_id)
    assert status == "failed"
    assert error == "generation failed: the worker stopped before finishing, 3 attempt(s) made"
    assert count_rows(db.path, "queue") == 0


def test_release_returns_the_task_and_the_attempt(db: Database) -> None:
    make_tasks(db, 1)
    queue = TaskQueue(db, lease_seconds=30, max_attempts=1)
    claim = queue.claim("stopping-worker")

    assert queue.release(claim)
    again = queue.claim("next-worker")

    assert again is not None and again.attempts == 1
    assert not queue.release(claim)


def test_concurrent_claimers_each_get_distinct_tasks(db: Database) -> None:
    task_ids = make_tasks(db, 30)
    queue = TaskQueue(db, lease_seconds=30, max_attempts=3)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        for _ in range(40):
            claim = queue.claim(name)
            if claim is None:
                return
            with lock:
                claimed.append(claim.task_id)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(claimed) == sorted(task_ids)
