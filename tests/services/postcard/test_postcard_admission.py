"""Admission control of CreatePostcard: bounds on unfinished tasks, per user and for the whole queue.

Beyond a bound the create is RESOURCE_EXHAUSTED with RetryInfo (when), QuotaFailure (whose quota) and
ErrorInfo (which bound) in the status details, and nothing is written; once workers finish tasks,
creates are accepted again. Workers are off while the queue fills, then a worker pool drains it.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.sqlite import Database
from services.postcard.schema import ADDED_COLUMNS, SCHEMA
from services.postcard.worker import create_worker_pool
from tests.services.postcard.support import MakeSettings, Running, Serve, count_rows
from tests.support.waiting import wait_until

ADMISSION = {"max_unfinished_per_user": 2, "max_queue_depth": 3, "retry_after_seconds": 2.5}


def refusal(error: grpc.aio.AioRpcError) -> tuple[float, list[str], str, str]:
    """(retry delay, QuotaFailure subjects, ErrorInfo reason, limit) of a RESOURCE_EXHAUSTED."""
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    retry, quota, info = (error_details_pb2.RetryInfo(), error_details_pb2.QuotaFailure(),
                          error_details_pb2.ErrorInfo())
    assert [status.details[0].Unpack(retry), status.details[1].Unpack(quota), status.details[2].Unpack(info)] == [
        True, True, True
    ]
    assert info.domain == "postcardapp"
    delay: duration_pb2.Duration = retry.retry_delay
    subjects = [v.subject for v in quota.violations]
    return delay.ToTimedelta().total_seconds(), subjects, info.reason, info.metadata["limit"]


@pytest.fixture
async def queued(make_settings: MakeSettings, serve: Serve) -> AsyncIterator[Running]:
    async with serve(make_settings(admission=ADMISSION, worker={"embedded": False})) as running:
        yield running


async def test_a_user_beyond_their_bound_is_refused_and_nothing_is_written(queued: Running) -> None:
    await queued.create("alice")
    await queued.create("alice")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await queued.create("alice")

    assert refusal(raised.value) == (2.5, ["user:alice"], "TOO_MANY_UNFINISHED_TASKS", "2")
    assert "at most 2 at a time" in (raised.value.details() or "")
    assert count_rows(queued.db_path, "tasks") == 2
    await queued.create("bob")  # another user's bound is their own


async def test_a_full_queue_refuses_everyone(queued: Running) -> None:
    await queued.create("alice")
    await queued.create("alice")
    await queued.create("bob")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await queued.create("carol")

    assert refusal(raised.value) == (2.5, ["service:postcard-queue"], "QUEUE_FULL", "3")
    assert count_rows(queued.db_path, "queue") == 3


async def test_a_retry_under_the_same_key_is_not_a_new_task_and_is_not_refused(queued: Running) -> None:
    first = await queued.create("alice", idempotency_key="k")
    await queued.create("alice")

    assert await queued.create("alice", idempotency_key="k") == first


async def test_the_queue_drains_and_creates_are_accepted_again(queued: Running, make_settings: MakeSettings) -> None:
    tasks = [await queued.create("alice"), await queued.create("alice"), await queued.create("bob")]
    for user in ("alice", "carol"):
        with pytest.raises(grpc.aio.AioRpcError):
            await queued.create(user)

    db = Database(queued.db_path, SCHEMA, added_columns=ADDED_COLUMNS)
    workers = create_worker_pool(make_settings(), db)
    await workers.start()
    try:
        await wait_until(lambda: count_rows(queued.db_path, "queue") == 0, 30, "the workers drained the queue")
        for user, task in zip(("alice", "alice", "bob"), tasks, strict=True):
            assert (await queued.status(user, task)).status == "completed"
        assert (await queued.wait_finished("carol", await queued.create("carol"))).status == "completed"
    finally:
        await workers.stop(1)
