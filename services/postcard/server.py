"""Assembly of the postcard-service gRPC server: database, servicer, health, reflection, workers.

`create_server(settings)` returns a bound but not started `ServiceServer` and
its port (port 0 picks a free one). Health reports
"postcardapp.postcard.v1.PostcardService" (and "") SERVING once started. With
`settings.worker.embedded`, `count` workers run as asyncio tasks in this
process: started by `ServiceServer.start` after the gRPC server, and stopped
by `ServiceServer.stop` after it (health turns NOT_SERVING first), with the
same grace for their in-flight tasks.
"""
from __future__ import annotations

import asyncio

import grpc

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from services.common.server import COMMON_SERVER_OPTIONS, ServiceServer, add_standard_services, bind

from .db import Database
from .generator import PostcardGenerator
from .servicer import PostcardServicer
from .settings import PostcardServiceSettings
from .store import PostcardStore
from .taskqueue import TaskQueue
from .worker import WorkerPool

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PostcardService"].full_name


def create_worker_pool(settings: PostcardServiceSettings, db: Database) -> WorkerPool:
    """The workers described by `settings.worker` over `db` (used embedded and by worker_main)."""
    queue = TaskQueue(db, lease_seconds=settings.worker.lease_seconds, max_attempts=settings.worker.max_attempts)
    return WorkerPool(
        queue,
        PostcardGenerator(settings.generator),
        count=settings.worker.count,
        poll_interval=settings.worker.poll_interval_seconds,
    )


async def create_server(settings: PostcardServiceSettings) -> tuple[ServiceServer, int]:
    """A ready-to-start postcard-service and its bound port; the database schema exists on return."""
    db = Database(settings.db_path)
    await asyncio.to_thread(db.initialise)
    pool = create_worker_pool(settings, db) if settings.worker.embedded else None

    server = grpc.aio.server(options=COMMON_SERVER_OPTIONS)
    servicer = PostcardServicer(PostcardStore(db), on_task_created=pool.notify if pool else None)
    pb_grpc.add_PostcardServiceServicer_to_server(servicer, server)
    health = add_standard_services(server, [SERVICE_NAME])
    port = bind(server, settings.host, settings.port)

    service = ServiceServer(server, health, [SERVICE_NAME], drain_seconds=settings.drain_seconds)
    if pool is not None:
        service.on_start(pool.start)

        async def stop_workers() -> None:
            await pool.stop(settings.grace_seconds)

        service.on_stop(stop_workers)
    return service, port
