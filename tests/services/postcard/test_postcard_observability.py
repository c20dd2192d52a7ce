"""The postcard-service observed: the create call's request id and trace context travel with the queued
task to the worker (through either queue backend); server spans; the worker's span linked to the
create's; metrics of calls, tasks and the queue's backlog on their own ports."""
from __future__ import annotations

import functools
import time

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from services.postcard.server import SERVICE_NAME, create_server
from tests.services.postcard.backends import both_backends
from tests.services.postcard.support import (
    VALID_FIELDS,
    MakeSettings,
    Running,
    Serve,
    SpawnWorker,
    as_user,
    query,
)
from tests.support.grpc_services import started
from tests.support.telemetry import MemoryTracing, Records, sample, scrape
from tests.support.waiting import wait_until

CREATE = f"/{SERVICE_NAME}/CreatePostcard"
CALLER_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def create(stub: pb_grpc.PostcardServiceStub, user: str = "alice", **metadata: str) -> str:
    pairs = (*as_user(user), *((name.replace("_", "-"), value) for name, value in metadata.items()))
    return (await stub.CreatePostcard(pb.CreatePostcardRequest(**VALID_FIELDS), metadata=pairs)).task_id


def origin(running: Running, task_id: str) -> tuple[str | None, str | None]:
    [row] = query(running.db_path, "SELECT request_id, traceparent FROM queue WHERE task_id = ?", task_id)
    return row


async def test_the_queued_task_carries_the_create_calls_request_id_and_traceparent(
    serve: Serve, make_settings: MakeSettings
) -> None:
    async with serve(make_settings(worker={"embedded": False})) as running:
        both = await create(running.stub, x_request_id="r-1", traceparent=CALLER_TRACEPARENT)
        malformed = await create(running.stub, x_request_id="not valid", traceparent="00-nonsense")
        neither = await create(running.stub)

        # Tracing off here: the caller's traceparent is passed on as it came.
        assert origin(running, both) == ("r-1", CALLER_TRACEPARENT)
        assert origin(running, malformed) == (None, None)
        assert origin(running, neither) == (None, None)


@both_backends
async def test_the_create_call_and_the_workers_lines_for_its_task_carry_its_request_id(
    running: Running, logs: Records
) -> None:
    task_id = await create(running.stub, x_request_id="r-create")
    assert (await running.wait_finished("alice", task_id)).status == "completed"

    [line] = logs.find("rpc", method=CREATE)
    assert (line.grpc_code, line.request_id, line.user_id) == ("OK", "r-create", "alice")
    assert logs.find("task accepted", task_id=task_id)[0].request_id == "r-create"
    assert logs.find("task claimed", task_id=task_id)[0].request_id == "r-create"
    assert logs.find("task completed", task_id=task_id)[0].request_id == "r-create"


@both_backends
async def test_the_create_gets_a_server_span_in_the_callers_trace_and_the_workers_span_links_to_it(
    make_settings: MakeSettings, tracing: MemoryTracing, logs: Records
) -> None:
    caller = TracerProvider().get_tracer("the gateway, say")
    serve = functools.partial(create_server, tracer_provider=tracing.provider)
    async with started(serve, make_settings()) as (_, _, channel):
        stub = pb_grpc.PostcardServiceStub(channel)
        with caller.start_as_current_span("client call") as client_span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            task_id = await create(stub, x_request_id="r-traced", **carrier)
        await wait_until(lambda: tracing.spans("process postcard task"), 15, "the worker's span")

    client = client_span.get_span_context()
    [server_span] = tracing.spans(CREATE)
    assert server_span.kind == trace.SpanKind.SERVER
    assert server_span.context.trace_id == client.trace_id
    assert server_span.parent is not None and server_span.parent.span_id == client.span_id

    [work] = tracing.spans("process postcard task")
    assert work.kind == trace.SpanKind.CONSUMER
    assert work.attributes["postcard.task_id"] == task_id
    assert work.attributes["postcard.outcome"] == "completed"
    # Linked, not a child: the work is a trace of its own that points at the create call's span.
    [link] = work.links
    assert (link.context.trace_id, link.context.span_id) == (server_span.context.trace_id, server_span.context.span_id)
    assert work.parent is None and work.context.trace_id != client.trace_id

    [completed] = logs.find("task completed", task_id=task_id)
    assert completed.request_id == "r-traced"
    assert completed.trace_id == format(work.context.trace_id, "032x")
    assert logs.find("rpc", method=CREATE)[0].trace_id == format(client.trace_id, "032x")


def unfinished(running: Running) -> int:
    return query(running.db_path, "SELECT COUNT(*) FROM tasks WHERE status = 'processing'")[0][0]


@both_backends
async def test_metrics_show_calls_tasks_and_the_backlog_until_a_worker_drains_it(
    serve: Serve, make_settings: MakeSettings, spawn_worker: SpawnWorker, backend: str
) -> None:
    settings = make_settings(metrics_port=0, worker={"embedded": False, "metrics_port": 0})
    async with serve(settings) as running:
        port = running.server.metrics_port
        assert port
        await create(running.stub)
        await create(running.stub, idempotency_key="k")
        await create(running.stub, idempotency_key="k")  # the same task again: not a new one
        await create(running.stub, x_request_id="r-queued")

        [(oldest,)] = query(running.db_path, "SELECT MIN(created_at) FROM tasks")
        before = time.time()
        samples = await scrape(port)
        after = time.time()
        create_ok = {"grpc_service": SERVICE_NAME, "grpc_method": "CreatePostcard", "grpc_type": "unary",
                     "grpc_code": "OK"}
        assert sample(samples, "grpc_server_handled_total", **create_ok) == 4
        assert sample(samples, "postcard_tasks_accepted_total") == 3
        assert sample(samples, "postcard_queue_depth") == 3  # on the stream or not, waiting all the same
        age = sample(samples, "postcard_queue_oldest_task_age_seconds")
        assert age is not None and before - oldest <= age <= after - oldest
        if backend == "redis":  # the service's relay sent them to the stream when they were created
            async def relayed() -> bool:
                samples = await scrape(port)
                return sample(samples, "postcard_outbox_relayed_total") == 3
            await wait_until(relayed, 30, "the service relayed the tasks")
            assert sample(await scrape(port), "postcard_outbox_backlog") == 0
        else:
            assert sample(samples, "postcard_outbox_backlog") is None  # the table is the queue itself

        worker = spawn_worker(settings)
        await wait_until(lambda: unfinished(running) == 0, 30, "the worker drained the queue")

        samples = await scrape(port)
        assert sample(samples, "postcard_queue_depth") == 0
        assert sample(samples, "postcard_queue_oldest_task_age_seconds") == 0

        [announced] = [r for r in worker.log_records() if r["message"] == "serving metrics"]
        worker_samples = await scrape(announced["metrics_port"])
        assert sample(worker_samples, "postcard_worker_tasks_total", outcome="completed") == 3
        assert sample(worker_samples, "postcard_worker_tasks_total", outcome="failed") == 0
        assert sample(worker_samples, "postcard_worker_task_duration_seconds_count", outcome="completed") == 3
        # The worker process's lines for a task carry the request id of the call that queued it.
        completed = [r for r in worker.log_records() if r["message"] == "task completed"]
        assert sorted(str(r["request_id"]) for r in completed) == ["None", "None", "r-queued"]
