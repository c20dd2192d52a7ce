"""WatchTaskStatus: the current status, then each change made by a worker in another process, then the end.

One loop per service process checks every watched task with one query per
interval; the active watches are a metric, so a cancelled call shows.
"""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from services.common.sqlite import Database
from services.postcard.model import PostcardRequest
from services.postcard.schema import open_database
from services.postcard.settings import AdmissionSettings
from services.postcard.store import PostcardStore, TaskView
from services.postcard.watch import TaskWatcher, WatchClosed
from tests.services.postcard.support import MakeSettings, Running, Serve, SpawnWorker, as_user
from tests.support.waiting import wait_until

NO_WORKER: dict[str, Any] = {"worker": {"embedded": False}, "watch": {"interval_seconds": 0.02}, "metrics_port": 0}


def watch(running: Running, user: str, task_id: str) -> Any:
    return running.stub.WatchTaskStatus(pb.WatchTaskStatusRequest(task_id=task_id), metadata=as_user(user))


async def watches(running: Running) -> float:
    """`postcard_task_watches` as the service's metrics port serves it."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{running.server.metrics_port}/metrics")).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("postcard_task_watches "))


async def test_the_status_at_once_then_the_change_a_worker_process_makes_then_the_end(
    serve: Serve, make_settings: MakeSettings, spawn_worker: SpawnWorker
) -> None:
    settings = make_settings(**NO_WORKER)
    async with serve(settings) as running:
        task_id = await running.create("alice")
        call = watch(running, "alice", task_id)
        first = await call.read()
        assert first == pb.GetTaskStatusResponse(status="processing")
        await wait_until(lambda: watches(running), what="the watch is registered")
        spawn_worker(settings)  # the worker runs in another process: the change comes through the database
        last = await call.read()
        assert last.status == "completed" and last.data.task_id == task_id
        assert last == await running.status("alice", task_id)  # the same message as GetTaskStatus
        assert await call.read() == grpc.aio.EOF
        assert await call.code() == grpc.StatusCode.OK
        assert await watches(running) == 0


async def test_a_failed_task_ends_the_stream_with_its_reason(running: Running) -> None:
    task_id = await running.create("alice", message="a scam")
    statuses = [status async for status in watch(running, "alice", task_id)]
    assert statuses[-1] == pb.GetTaskStatusResponse(
        status="failed", error="content rejected by moderation: message contains a blocked word"
    )
    assert {status.status for status in statuses[:-1]} <= {"processing"}


async def test_a_finished_task_is_one_message(running: Running) -> None:
    task_id = await running.create("alice")
    finished = await running.wait_finished("alice", task_id)
    assert [status async for status in watch(running, "alice", task_id)] == [finished]


@pytest.mark.parametrize(
    ("user", "task", "code"),
    [
        ("bob", "alices", grpc.StatusCode.NOT_FOUND),  # another user's task: as unknown as a missing one
        ("alice", "00000000-0000-0000-0000-000000000000", grpc.StatusCode.NOT_FOUND),
        ("alice", "", grpc.StatusCode.INVALID_ARGUMENT),
        (None, "alices", grpc.StatusCode.UNAUTHENTICATED),
    ],
)
async def test_refusals_come_before_any_message(running: Running, user: str | None, task: str,
                                                code: grpc.StatusCode) -> None:
    task_id = await running.create("alice") if task == "alices" else task
    call = running.stub.WatchTaskStatus(pb.WatchTaskStatusRequest(task_id=task_id), metadata=as_user(user))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() == code
    if code == grpc.StatusCode.NOT_FOUND:
        assert refused.value.details() == "task not found"


async def test_a_cancelled_call_leaves_no_watch(serve: Serve, make_settings: MakeSettings) -> None:
    async with serve(make_settings(**NO_WORKER)) as running:
        calls = [watch(running, "alice", await running.create("alice")) for _ in range(3)]
        for call in calls:
            assert (await call.read()).status == "processing"
        await wait_until(lambda: _equals(watches(running), 3), what="three watches")
        for call in calls:
            call.cancel()
        await wait_until(lambda: _equals(watches(running), 0), what="no watch left")


async def test_a_stopping_server_ends_its_watches_at_once_as_unavailable(
    serve: Serve, make_settings: MakeSettings
) -> None:
    async with serve(make_settings(**NO_WORKER)) as running:
        call = watch(running, "alice", await running.create("alice"))
        await call.read()
        await wait_until(lambda: _equals(watches(running), 1))
        stopping = asyncio.create_task(running.server.stop(30, drain=0))  # a grace the watch must not wait out
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await call.read()
        assert (ended.value.code(), ended.value.details()) == (
            grpc.StatusCode.UNAVAILABLE, "the service is stopping: watch again",
        )
        await asyncio.wait_for(stopping, 10)


class CountingStore(PostcardStore):
    """The real store, recording how many tasks each check of the watcher asked about."""

    def __init__(self, db: Database) -> None:
        # 200 unfinished tasks of one user: far past admission control's default, which has tests of its own.
        super().__init__(db, AdmissionSettings(max_unfinished_per_user=1000))
        self.checks: list[int] = []

    def changed_tasks(self, known: Any) -> list[TaskView]:
        self.checks.append(len(known))
        return super().changed_tasks(known)


async def test_one_query_per_interval_covers_every_watched_task(make_settings: MakeSettings) -> None:
    db_path = make_settings().db_path
    store = CountingStore(await asyncio.to_thread(open_database, db_path))
    tasks = [store.create_task("alice", PostcardRequest("m", "s", "t"))[0] for _ in range(200)]
    watcher = TaskWatcher(store, interval_seconds=0.02)
    followers = [watcher.follow(store.task("alice", task_id)) for task_id in tasks]  # type: ignore[arg-type]
    pending = [asyncio.create_task(anext(follower)) for follower in followers]
    await wait_until(lambda: watcher.active == 200 and store.checks, what="every watch registered, one check made")
    fail_every_task(db_path)  # as a worker in another process would, through the database
    views = await asyncio.gather(*pending)
    assert {(view.status, view.error) for view in views} == {("failed", "stopped by the test")}
    assert max(store.checks) == 200  # one query asked about all of them ...
    assert len(store.checks) < 50  # ... at each interval: far fewer checks than watchers
    for follower in followers:
        with pytest.raises(StopAsyncIteration):
            await anext(follower)
    assert watcher.active == 0


async def test_watches_end_when_the_watcher_closes(make_settings: MakeSettings) -> None:
    store = PostcardStore(await asyncio.to_thread(open_database, make_settings().db_path))
    task_id, _ = store.create_task("alice", PostcardRequest("m", "s", "t"))
    watcher = TaskWatcher(store, interval_seconds=0.02)
    follower = watcher.follow(store.task("alice", task_id))  # type: ignore[arg-type]
    waiting = asyncio.create_task(anext(follower))
    await wait_until(lambda: watcher.active == 1)
    await watcher.close()
    with pytest.raises(WatchClosed):
        await waiting
    with pytest.raises(WatchClosed):  # a watch begun after the close
        await anext(watcher.follow(store.task("alice", task_id)))  # type: ignore[arg-type]


def fail_every_task(db_path: Path) -> None:
    connection = sqlite3.connect(db_path)
    try:
        connection.execute("UPDATE tasks SET status = 'failed', error = 'stopped by the test'")
        connection.commit()
    finally:
        connection.close()


async def _equals(value: Any, expected: float) -> bool:
    return await value == expected
