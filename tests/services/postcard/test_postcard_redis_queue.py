"""What only the Redis backend has, against a real redis-server: the outbox relay (batches, Redis down,
concurrent relays), duplicate entries skipped, entries deleted under a worker, the consumer group lost
with Redis's data, the consumers removed on close; and a service that goes on accepting tasks while
Redis is down, then relays and works them when it is back."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from services.postcard.artwork import render
from services.postcard.metrics import RelayMetrics
from services.postcard.model import PostcardRequest, TaskOrigin
from services.postcard.outbox import OutboxRelay
from services.postcard.schema import open_database
from services.postcard.store import PostcardStore
from services.postcard.stream import sync_client
from tests.services.postcard.queues import RedisQueues, create_tasks, one_claimed
from tests.services.postcard.support import Running, count_rows, query
from tests.support.redis_server import RedisServer
from tests.support.telemetry import Records
from tests.support.waiting import wait_until

ARTWORK = render(PostcardRequest(mood="calm", style="ink", theme="mountains"), "/x")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
async def queues(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[RedisQueues]:
    made = RedisQueues(open_database(tmp_path / "queue.sqlite3"), redis_server)
    yield made
    await made.close()


def relay_again(queues: RedisQueues, task_id: str) -> None:
    """The task's outbox row back, as if the relay had crashed after its XADD and before its commit."""
    with queues.db.transaction(immediate=True) as conn:
        conn.execute("INSERT INTO queue (task_id, enqueued_at) VALUES (?, 0)", (task_id,))


async def test_the_relay_moves_rows_oldest_first_with_their_task_and_origin(queues: RedisQueues) -> None:
    store = PostcardStore(queues.db)
    first, _ = store.create_task("alice", PostcardRequest("calm", "ink", "sea", "Mia", "hi"),
                                 origin=TaskOrigin("r-1", TRACEPARENT))
    second, _ = store.create_task("bob", PostcardRequest("wild", "oil", "storm"))

    assert await queues.relay.relay() == 2

    assert count_rows(queues.db.path, "queue") == 0
    entries = queues.view.client.xrange(queues.settings.stream)
    assert [fields["task_id"] for _, fields in entries] == [first, second]
    assert entries[0][1] == {"task_id": first, "user_id": "alice", "mood": "calm", "style": "ink", "theme": "sea",
                             "recipient": "Mia", "message": "hi", "request_id": "r-1", "traceparent": TRACEPARENT}
    claim = await queues.queue().claim("w1")
    assert claim is not None
    assert (claim.task_id, claim.user_id, claim.attempts) == (first, "alice", 1)
    assert claim.request == PostcardRequest("calm", "ink", "sea", "Mia", "hi")
    assert claim.origin == TaskOrigin("r-1", TRACEPARENT)
    assert await queues.relay.relay() == 0


async def test_with_redis_down_the_relay_keeps_the_rows_and_relays_them_later(
    queues: RedisQueues, redis_server: RedisServer
) -> None:
    registry = CollectorRegistry()
    relay = OutboxRelay(queues.db, sync_client(queues.settings), queues.settings.stream, poll_interval=0.05,
                        metrics=RelayMetrics(registry))
    try:
        redis_server.stop()
        task_ids = create_tasks(queues.db, 3)

        with pytest.raises(redis.ConnectionError):
            await relay.relay()

        assert count_rows(queues.db.path, "queue") == 3  # rolled back: nothing lost
        assert registry.get_sample_value("postcard_outbox_relay_failures_total") == 1
        redis_server.start()  # empty: the stream and its group come back with the relay and the first claim
        assert await relay.relay() == 3
        assert count_rows(queues.db.path, "queue") == 0
        assert registry.get_sample_value("postcard_outbox_relayed_total") == 3
        queue = queues.queue()
        claimed = [claim.task_id for claim in [await queue.claim("w1") for _ in range(3)] if claim]
        assert claimed == task_ids
    finally:
        await relay.stop()


async def test_relays_in_several_processes_send_each_row_once(queues: RedisQueues) -> None:
    create_tasks(queues.db, 50)
    relays = [OutboxRelay(queues.db, sync_client(queues.settings), queues.settings.stream, poll_interval=0.05,
                          batch_size=7) for _ in range(4)]

    async def drain(relay: OutboxRelay) -> int:
        moved = 0
        while batch := await relay.relay():
            moved += batch
        return moved

    try:
        moved = await asyncio.gather(*(drain(relay) for relay in relays))
    finally:
        for relay in relays:
            await relay.stop()

    assert sum(moved) == 50
    assert queues.view.client.xlen(queues.settings.stream) == 50


async def test_a_duplicate_entry_of_a_finished_task_is_skipped(queues: RedisQueues) -> None:
    [task_id] = await queues.make_tasks(1)
    relay_again(queues, task_id)  # the first relay "crashed" after its XADD
    assert await queues.relay.relay() == 1
    assert len(queues.view.entries(task_id)) == 2
    skipped: list[None] = []
    queue = queues.queue(on_skip=lambda: skipped.append(None))

    claim = await queue.claim("w1")
    assert claim is not None and await queue.complete(claim, "p1", ARTWORK)

    assert await queue.claim("w1") is None
    assert skipped == [None]
    assert queues.view.entries(task_id) == [] and queues.view.pending_count() == 0
    assert query(queues.db.path, "SELECT postcard_id FROM postcards") == [("p1",)]


async def test_duplicates_claimed_at_once_complete_the_task_once(queues: RedisQueues) -> None:
    [task_id] = await queues.make_tasks(1)
    relay_again(queues, task_id)
    assert await queues.relay.relay() == 1
    queue = queues.queue()
    first, second = await queue.claim("w1"), await queue.claim("w2")
    assert first is not None and second is not None and first.task_id == second.task_id == task_id

    assert await queue.complete(first, "p1", ARTWORK)
    assert not await queue.complete(second, "p2", ARTWORK)  # fenced by the task's status: discarded
    assert not await queue.fail(second, "too late")

    assert query(queues.db.path, "SELECT status, postcard_id, error FROM tasks") == [("completed", "p1", None)]
    assert count_rows(queues.db.path, "postcards") == 1
    assert queues.view.entries(task_id) == [] and queues.view.pending_count() == 0


async def test_an_entry_deleted_while_pending_is_dropped(queues: RedisQueues) -> None:
    queue, claim = await one_claimed(queues, "dead-worker")
    queues.view.client.xdel(queues.settings.stream, claim.lease_token)  # e.g. an operator's XDEL or XTRIM
    await queues.age(30)

    assert await queue.claim("live-worker") is None
    assert queues.view.pending_count() == 0
    assert query(queues.db.path, "SELECT status FROM tasks WHERE task_id = ?", claim.task_id) == [("processing",)]


async def test_a_group_lost_with_redis_s_data_is_created_again(
    queues: RedisQueues, redis_server: RedisServer
) -> None:
    queue = queues.queue()
    assert await queue.claim("w1") is None  # the group exists
    redis_server.stop()
    redis_server.start()  # no persistence here: the stream and the group are gone

    with pytest.raises(redis.RedisError):
        await queue.claim("w1")  # the old connection is gone
    with pytest.raises(redis.ResponseError, match="NOGROUP"):
        await queue.claim("w1")
    [task_id] = await queues.make_tasks(1)
    claim = await queue.claim("w1")

    assert claim is not None and claim.task_id == task_id


async def test_close_removes_this_processes_consumers_that_hold_no_entry(queues: RedisQueues) -> None:
    await queues.make_tasks(3)
    queue, other = queues.queue(), queues.queue()
    for worker, process in (("done", queue), ("another-process", other)):
        claim = await process.claim(worker)
        assert claim is not None and await process.complete(claim, f"p-{worker}", ARTWORK)
    assert await queue.claim("busy") is not None
    assert queues.view.consumers() == {"done": 0, "another-process": 0, "busy": 1}

    await queue.close()

    # "busy" stays: deleting it would drop its entry; "another-process" is not this process's.
    assert queues.view.consumers() == {"another-process": 0, "busy": 1}


@pytest.mark.parametrize("backend", ["redis"])
async def test_with_redis_down_creates_succeed_and_the_service_catches_up_when_it_is_back(
    running: Running, redis_server: RedisServer, logs: Records
) -> None:
    redis_server.stop()

    task_id = await running.create("alice")  # accepted: the outbox holds it

    await wait_until(lambda: logs.find("relaying the outbox to Redis failed; the tasks stay in the outbox"), 15,
                     "the relay tried and backs off")
    await wait_until(lambda: logs.find("claiming a task failed"), 15, "the workers tried and back off")
    assert (await running.status("alice", task_id)).status == "processing"
    assert count_rows(running.db_path, "queue") == 1
    redis_server.start()
    assert (await running.wait_finished("alice", task_id, within=30)).status == "completed"
    assert logs.find("relaying the outbox to Redis works again")
    assert logs.find("claiming works again")
