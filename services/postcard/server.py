"""Assembly of the postcard-service gRPC server: database, servicer, health, reflection, workers.

`create_server(settings)` returns a bound but not started `ServiceServer` and
its port (port 0 picks a free one). Health reports
"postcardapp.postcard.v1.PostcardService" (and "") SERVING once started. With
`settings.worker.embedded`, `count` workers run as asyncio tasks in this
process: started by `ServiceServer.start` after the gRPC server, and stopped
by `ServiceServer.stop` after it (health turns NOT_SERVING first), with the
same grace for their in-flight tasks. With the Redis queue backend, the
outbox relay runs here whether or not workers do: started with them, woken by
every task created, stopped last. With `settings.metrics_port`, the
process's metrics (RPCs, tasks, the queue; `services.postcard.metrics`) are
served over HTTP; `tracer_provider` turns spans on for calls and workers.
"""
from __future__ import annotations

import asyncio

import grpc
from opentelemetry.sdk.trace import TracerProvider

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from services.common.observability import Observability
from services.common.server import COMMON_SERVER_OPTIONS, ServiceServer, add_standard_services, bind
from services.postcard.metrics import QueueCollector, tasks_accepted
from services.postcard.outbox import create_outbox_relay
from services.postcard.schema import open_database
from services.postcard.servicer import PostcardServicer
from services.postcard.settings import ENV_PREFIX, PostcardServiceSettings
from services.postcard.store import PostcardStore
from services.postcard.worker import create_worker_pool

# The name health checks and reflection use: "postcardapp.postcard.v1.PostcardService".
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["PostcardService"].full_name


async def create_server(
    settings: PostcardServiceSettings, *, tracer_provider: TracerProvider | None = None
) -> tuple[ServiceServer, int]:
    """A bound, not yet started postcard-service and its port; the database schema exists on return.

    `tracer_provider` (owned by the server from here) turns spans on. Raises OSError when a port
    (gRPC or metrics) cannot be bound.
    """
    db = await asyncio.to_thread(open_database, settings.db_path)
    observability = Observability(tracer_provider)
    registry = observability.registry
    relay = create_outbox_relay(settings, db, registry)
    registry.register(QueueCollector(db, outbox=relay is not None))
    accepted = tasks_accepted(registry)
    pool = (
        create_worker_pool(settings, db, registry=registry, tracer_provider=tracer_provider)
        if settings.worker.embedded
        else None
    )

    def task_created() -> None:
        accepted.inc()
        if relay is not None:
            relay.notify()  # Redis: to the stream now, where a blocked worker reads it at once
        if pool is not None:
            pool.notify()  # SQLite: idle workers claim now

    grpc_server = grpc.aio.server(options=COMMON_SERVER_OPTIONS, interceptors=observability.server_interceptors())
    servicer = PostcardServicer(PostcardStore(db), on_task_created=task_created)
    pb_grpc.add_PostcardServiceServicer_to_server(servicer, grpc_server)  # type: ignore[no-untyped-call]  # generated, no stub
    health = add_standard_services(grpc_server, [SERVICE_NAME])
    port = bind(grpc_server, settings.host, settings.port)
    try:
        await observability.serve_metrics(settings.host, settings.metrics_port, f"{ENV_PREFIX}METRICS_PORT")
    except OSError:
        await grpc_server.stop(None)
        raise

    server = ServiceServer(
        grpc_server, health, [SERVICE_NAME], drain_seconds=settings.drain_seconds, observability=observability
    )
    if relay is not None:
        server.on_start(relay.start)
        server.on_stop(relay.stop)  # registered first: stopped after the workers
    if pool is not None:
        server.on_start(pool.start)

        async def stop_workers() -> None:
            await pool.stop(settings.grace_seconds)

        server.on_stop(stop_workers)
    return server, port
