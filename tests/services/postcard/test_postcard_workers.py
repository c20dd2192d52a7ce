"""Standalone worker processes: a killed worker's task is re-claimed and completed exactly once;
a stopped worker gives its task back."""
from __future__ import annotations

import signal
import time

from tests.services.postcard.support import MakeSettings, Serve, SpawnWorker, count_rows, query, wait_for_claim
from tests.support.waiting import wait_until


async def test_killed_worker_task_is_completed_once_by_another(
    make_settings: MakeSettings, serve: Serve, spawn_worker: SpawnWorker
) -> None:
    # A short lease (renewed every lease/3 while alive) against a generation that would take 30 s.
    service_settings = make_settings(worker={"embedded": False})
    slow = make_settings(worker={"lease_seconds": 1.0, "poll_interval_seconds": 0.05}, generator={"delay_seconds": 30})
    fast = make_settings(worker={"lease_seconds": 1.0, "poll_interval_seconds": 0.05})
    async with serve(service_settings) as running:
        task_id = await running.create("alice")
        doomed = spawn_worker(slow)
        owner, token, attempts = await wait_for_claim(running.db_path, task_id, doomed)
        assert attempts == 1

        # Alive past its first lease: the worker renewed it, and nobody else took the task. Waits
        # for that state (bounded), not for a fixed time: a slow machine only takes longer.
        [(first_expiry,)] = query(running.db_path, "SELECT lease_expires_at FROM queue WHERE task_id = ?", task_id)

        def held_past_first_lease() -> bool:
            sql = "SELECT lease_owner, lease_token, lease_expires_at FROM queue WHERE task_id = ?"
            [(still_owner, still_token, expires_at)] = query(running.db_path, sql, task_id)
            assert (still_owner, still_token) == (owner, token)
            now = time.time()
            return now > first_expiry and expires_at > now

        await wait_until(held_past_first_lease, timeout=30, what="a lease renewed past its first expiry")
        assert (await running.status("alice", task_id)).status == "processing"

        doomed.kill(signal.SIGKILL)
        assert await doomed.wait_exit() == -signal.SIGKILL

        rescuer = spawn_worker(fast)
        status = await running.wait_finished("alice", task_id, within=20)

        assert status.status == "completed", status
        assert query(running.db_path, "SELECT task_id FROM postcards") == [(task_id,)]
        assert count_rows(running.db_path, "queue") == 0
        claims = [r for r in rescuer.log_records() if r["message"] == "task claimed"]
        assert [(r["task_id"], r["attempt"]) for r in claims] == [(task_id, 2)]

        rescuer.kill(signal.SIGTERM)
        assert await rescuer.wait_exit() == 0


async def test_sigterm_releases_the_in_flight_task(
    make_settings: MakeSettings, serve: Serve, spawn_worker: SpawnWorker
) -> None:
    service_settings = make_settings(worker={"embedded": False})
    # A long lease: if the task were not released, the next worker could not take it within the test.
    slow = make_settings(grace_seconds=0.2, worker={"lease_seconds": 60}, generator={"delay_seconds": 30})
    async with serve(service_settings) as running:
        task_id = await running.create("alice")
        worker = spawn_worker(slow)
        await wait_for_claim(running.db_path, task_id, worker)

        worker.kill(signal.SIGTERM)
        assert await worker.wait_exit() == 0

        assert query(
            running.db_path, "SELECT lease_owner, lease_token, lease_expires_at, attempts FROM queue WHERE task_id = ?",
            task_id,
        ) == [(None, None, None, 0)]
        assert any(r["message"] == "task released on stop" for r in worker.log_records())
        assert (await running.status("alice", task_id)).status == "processing"

        spawn_worker(make_settings(worker={"lease_seconds": 60}))
        assert (await running.wait_finished("alice", task_id, within=20)).status == "completed"
