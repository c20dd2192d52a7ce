"""The queue contract on both backends: claims, expiry, fencing, give-up, release, concurrency.

SQLite: leases on a real SQLite file, their time moved by a `ManualClock`. Redis: a real
redis-server; a lease's time is moved by setting the pending entries' idle time (XCLAIM IDLE), so
that neither waits for real time to pass. What only Redis has (duplicates, the relay) is in
test_postcard_redis_queue.py.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.sqlite import Database
from services.postcard.artwork import render
from services.postcard.model import PostcardRequest
from services.postcard.schema import open_database
from tests.services.postcard.backends import BACKENDS
from tests.services.postcard.queues import Queues, RedisQueues, SqliteQueues, one_claimed
from tests.services.postcard.support import query
from tests.support.redis_server import RedisServer

REQUEST = PostcardRequest(mood="calm", style="ink", theme="mountains")
ARTWORK = render(REQUEST, "/x")


@pytest.fixture(params=BACKENDS)
async def queues(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queues]:
    db = open_database(tmp_path / "queue.sqlite3")
    made: Queues
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisQueues(db, server)
    else:
        made = SqliteQueues(db)
    yield made
    await made.close()


def test_database_uses_wal(tmp_path: Path) -> None:
    db: Database = open_database(tmp_path / "queue.sqlite3")
    assert query(db.path, "PRAGMA journal_mode") == [("wal",)]


async def test_claims_oldest_first_and_never_twice(queues: Queues) -> None:
    first, second = await queues.make_tasks(2)
    queue = queues.queue()

    claims = [await queue.claim("w1"), await queue.claim("w2"), await queue.claim("w3")]

    assert [c.task_id if c else None for c in claims] == [first, second, None]


async def test_a_lease_is_exclusive_until_it_expires(queues: Queues) -> None:
    queue, holder = await one_claimed(queues, "worker-1")

    await queues.age(20)
    assert await queue.claim("worker-2") is None
    assert await queue.renew(holder)  # a live worker extends its lease: 30 s from now
    await queues.age(20)
    assert await queue.claim("worker-2") is None
    await queues.age(10)
    assert await queue.claim("worker-2") is not None


async def test_expired_lease_is_reclaimed_and_the_old_holder_is_fenced_off(queues: Queues) -> None:
    queue, stale = await one_claimed(queues, "dead-worker")
    task_id = stale.task_id
    await queues.age(30)

    fresh = await queue.claim("live-worker")

    assert fresh is not None and fresh.task_id == task_id and fresh.attempts == 2
    assert not await queue.renew(stale)
    assert not await queue.release(stale)
    assert not await queue.complete(stale, "p-stale", ARTWORK)
    assert not await queue.fail(stale, "stale")
    assert await queue.complete(fresh, "p-fresh", ARTWORK)
    assert query(queues.db.path, "SELECT postcard_id, task_id FROM postcards") == [("p-fresh", task_id)]
    assert query(queues.db.path, "SELECT status, postcard_id FROM tasks") == [("completed", "p-fresh")]
    assert queues.unfinished() == 0
    # A second completion by the winner is impossible too: the message is gone.
    assert not await queue.complete(fresh, "p-again", ARTWORK)


async def test_expired_but_unclaimed_lease_may_still_finish(queues: Queues) -> None:
    queue, claim = await one_claimed(queues, "slow-worker")
    await queues.age(60)

    assert await queue.renew(claim)
    assert await queue.complete(claim, "p1", ARTWORK)


async def test_gives_up_after_max_attempts(queues: Queues) -> None:
    [task_id] = await queues.make_tasks(1)
    given_up: list[int] = []
    queue = queues.queue(on_give_up=given_up.append)
    for attempt in (1, 2, 3):
        claim = await queue.claim(f"crashing-{attempt}")
        assert claim is not None and claim.attempts == attempt
        await queues.age(30)

    assert await queue.claim("next") is None
    [(status, error)] = query(queues.db.path, "SELECT status, error FROM tasks WHERE task_id = ?", task_id)
    assert status == "failed"
    assert error == "generation failed: the worker stopped before finishing, 3 attempt(s) made"
    assert queues.unfinished() == 0
    assert given_up == [1]


async def test_release_returns_the_task_and_the_attempt(queues: Queues) -> None:
    queue, claim = await one_claimed(queues, "stopping-worker", max_attempts=1)

    assert await queue.release(claim)
    again = await queue.claim("next-worker")  # at once: no lease to wait for

    assert again is not None and again.attempts == 1
    assert not await queue.release(claim)
    assert await queue.complete(again, "p1", ARTWORK)


async def test_concurrent_claimers_each_get_distinct_tasks(queues: Queues) -> None:
    task_ids = await queues.make_tasks(30)
    claimed: list[str] = []

    async def claimer(name: str) -> None:
        queue = queues.queue()  # a queue per claimer, as one per process (SQLite: each claim in a thread)
        for _ in range(40):
            claim = await queue.claim(name)
            if claim is None:
                return
            claimed.append(claim.task_id)

    async with asyncio.timeout(60):
        await asyncio.gather(*(claimer(f"w{n}") for n in range(6)))

    assert sorted(claimed) == sorted(task_ids)
