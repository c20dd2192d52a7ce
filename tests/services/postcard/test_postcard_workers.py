"""Standalone worker processes, on both queue backends: two workers share the queue and finish each task
once; a killed worker's task is re-claimed and completed exactly once by another; a stopped worker
gives its task back. With Redis: a task accepted while Redis is down, by a service that then dies, is
still completed (the outbox)."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from tests.services.postcard.backends import OpenView, both_backends, wait_for_claim
from tests.services.postcard.support import (
    VALID_FIELDS,
    MakeSettings,
    Serve,
    SpawnWorker,
    WorkerProcess,
    as_user,
    count_rows,
    query,
    settings_env,
)
from tests.support.grpc_services import client_channel
from tests.support.processes import Child
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until


def logged(worker: WorkerProcess, message: str) -> list[dict]:
    return [r for r in worker.log_records() if r["message"] == message]


async def wait_running(worker: WorkerProcess) -> None:
    await wait_until(lambda: logged(worker, "postcard-worker running") or worker.process.poll() is not None,
                     30, "the worker runs")
    assert worker.process.poll() is None, worker.log_path.read_text()


@both_backends
async def test_two_worker_processes_share_the_queue_and_complete_each_task_once(
    make_settings: MakeSettings, serve: Serve, spawn_worker: SpawnWorker
) -> None:
    # One task at a time per worker, each taking a while: with both workers waiting before the tasks
    # arrive, the second takes one while the first generates.
    workers_settings = make_settings(worker={"count": 1}, generator={"delay_seconds": 0.5})
    async with serve(make_settings(worker={"embedded": False})) as running:
        workers = [spawn_worker(workers_settings) for _ in range(2)]
        for worker in workers:
            await wait_running(worker)

        task_ids = [await running.create("alice", theme=f"card {n}") for n in range(4)]

        for task_id in task_ids:
            assert (await running.wait_finished("alice", task_id, within=30)).status == "completed"
        assert sorted(row[0] for row in query(running.db_path, "SELECT task_id FROM postcards")) == sorted(task_ids)
        done = {worker.pid: [r["task_id"] for r in logged(worker, "task completed")] for worker in workers}
        assert sorted(task for tasks in done.values() for task in tasks) == sorted(task_ids)  # each once
        assert all(done.values()), done  # both took part


@both_backends
async def test_killed_worker_task_is_completed_once_by_another(
    make_settings: MakeSettings, serve: Serve, spawn_worker: SpawnWorker, open_view: OpenView
) -> None:
    # A short lease (renewed every lease/3 while alive) against a generation that would take 30 s.
    service_settings = make_settings(worker={"embedded": False})
    slow = make_settings(worker={"lease_seconds": 1.0, "poll_interval_seconds": 0.05}, generator={"delay_seconds": 30})
    fast = make_settings(worker={"lease_seconds": 1.0, "poll_interval_seconds": 0.05})
    view = open_view(slow)
    async with serve(service_settings) as running:
        task_id = await running.create("alice")
        doomed = spawn_worker(slow)
        first = await wait_for_claim(view, task_id, doomed)
        assert first.attempts == 1
        # The worker logs its claim just after the store has it: wait for the line, then check it.
        await wait_until(lambda: logged(doomed, "task claimed"), 30, "the worker logs its claim")
        assert [r["task_id"] for r in logged(doomed, "task claimed")] == [task_id]

        # Alive past its first lease: the worker renewed it, and nobody else took the task. Waits
        # for that state (bounded), not for a fixed time: a slow machine only takes longer.
        first_expiry = time.time() + first.lease_left

        def held_past_first_lease() -> bool:
            holding = view.holding(task_id)
            assert holding is not None and (holding.owner, holding.attempts) == (first.owner, 1)
            return time.time() > first_expiry and holding.lease_left > 0

        await wait_until(held_past_first_lease, timeout=30, what="a lease renewed past its first expiry")
        assert (await running.status("alice", task_id)).status == "processing"

        doomed.kill(signal.SIGKILL)
        assert await doomed.wait_exit() == -signal.SIGKILL

        rescuer = spawn_worker(fast)
        status = await running.wait_finished("alice", task_id, within=20)

        assert status.status == "completed", status
        assert query(running.db_path, "SELECT task_id FROM postcards") == [(task_id,)]
        assert view.unfinished() == 0
        claims = logged(rescuer, "task claimed")
        assert [(r["task_id"], r["attempt"]) for r in claims] == [(task_id, 2)]

        rescuer.kill(signal.SIGTERM)
        assert await rescuer.wait_exit() == 0


@both_backends
async def test_sigterm_releases_the_in_flight_task(
    make_settings: MakeSettings, serve: Serve, spawn_worker: SpawnWorker, open_view: OpenView
) -> None:
    service_settings = make_settings(worker={"embedded": False})
    # A long lease: if the task were not released, the next worker could not take it within the test.
    slow = make_settings(grace_seconds=0.2, worker={"lease_seconds": 60}, generator={"delay_seconds": 30})
    view = open_view(slow)
    async with serve(service_settings) as running:
        task_id = await running.create("alice")
        worker = spawn_worker(slow)
        await wait_for_claim(view, task_id, worker)

        worker.kill(signal.SIGTERM)
        assert await worker.wait_exit() == 0

        holding = view.holding(task_id)
        assert holding is None or holding.lease_left <= 0  # free to claim at once
        assert view.attempts(task_id) == 0  # and the attempt given back
        assert logged(worker, "task released on stop")
        assert (await running.status("alice", task_id)).status == "processing"

        spawn_worker(make_settings(worker={"lease_seconds": 60}))
        assert (await running.wait_finished("alice", task_id, within=20)).status == "completed"


@pytest.mark.parametrize("backend", ["redis"])
async def test_a_task_accepted_while_redis_is_down_is_completed_after_its_service_died(
    make_settings: MakeSettings, spawn_worker: SpawnWorker, open_view: OpenView, redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    settings = make_settings(worker={"embedded": False})
    service = Child("postcard-service", ["services.postcard"], settings_env(settings), tmp_path)
    try:
        port = await service.wait_listening()
        redis_server.stop()
        async with client_channel(settings, port) as channel:
            stub = pb_grpc.PostcardServiceStub(channel)
            reply = await stub.CreatePostcard(pb.CreatePostcardRequest(**VALID_FIELDS), metadata=as_user("alice"))
        task_id = reply.task_id
        await wait_until(lambda: service.logged("relaying the outbox to Redis failed"), 30, "the relay tried")
        assert query(settings.db_path, "SELECT task_id FROM queue") == [(task_id,)]  # kept in the outbox

        service.send(signal.SIGKILL)  # dies without relaying it
        assert await service.wait_exit() == -signal.SIGKILL
    finally:
        await service.stop()
    redis_server.start()  # an empty Redis: not even the stream or its group
    worker = spawn_worker(settings)  # relays what it finds in the outbox, then works on it

    def finished() -> list[tuple]:
        return query(settings.db_path, "SELECT status FROM tasks WHERE task_id = ? AND status != 'processing'",
                     task_id)

    await wait_until(finished, 30, "the task finished")
    assert finished() == [("completed",)]
    assert query(settings.db_path, "SELECT task_id FROM postcards") == [(task_id,)]
    assert open_view(settings).unfinished() == 0
    assert [r["task_id"] for r in logged(worker, "task completed")] == [task_id]
    assert count_rows(settings.db_path, "queue") == 0
