"""Assembly of the postcard-service gRPC server: database, servicer, health, reflection, workers.

`create_server(settings)` returns a bound but not started `ServiceServer` and
its port (port 0 picks a free one). Health reports
"postcardapp.postcard.v1.PostcardService" (and "") SERVING once started. With
`settings.worker.embedded`, `count` workers run as asyncio tasks in this
process: started by `ServiceServer.start` after the gRPC server, and stopped
by `ServiceServer.stop` after it (health turns NOT_SERVING first), with the
same grace for their in-flight tasks. WatchTaskStatus streams are served by one
`TaskWatcher` per process; they end (UNAVAILABLE) when the drain is over. With
the Redis queue backend, the outbox relay runs here whether or not workers do:
started with them, woken by every task created, stopped last. With `settings.metrics_port`, the
process's metrics (RPCs, tasks, the queue; `services.postcard.metrics`) are
served over HTTP; `tracer_provider` turns spans on for calls and workers. Every
request keeps its contract's rules before a method runs (`ValidateRequests`).
"""
from __future__ import annotations

import asyncio
import logging
import secrets

import grpc
from opentelemetry.sdk.trace import TracerProvider

from contractrules.violations import RequestRules
from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from services.common.config import ConfigError
from services.common.identity import Callers
from services.common.observability import Observability
from services.common.server import (
    COMMON_SERVER_OPTIONS,
    ServiceServer,
    add_standard_services,
    bind,
    internal_tls,
)
from services.common.validation import ValidateRequests
from services.postcard.metrics import QueueCollector, WatchMetrics, tasks_accepted
from services.postcard.outbox import create_outbox_relay
from services.postcard.pagetokens import PageTokens
from services.postcard.schema import open_database
from services.postcard.servicer import PostcardServicer
from services.postcard.settings import ENV_PREFIX, PostcardServiceSettings
from services.postcard.store import PostcardStore
from services.postcard.watch import TaskWatcher
from services.postcard.worker import create_worker_pool

log = logging.getLogger(__name__)

# The name health checks and reflection use: "postcardapp.postcard.v1.PostcardService".
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["PostcardService"].full_name


async def create_server(
    settings: PostcardServiceSettings, *, tracer_provider: TracerProvider | None = None
) -> tuple[ServiceServer, int]:
    """A bound, not yet started postcard-service and its port; the database schema exists on return.

    `tracer_provider` (owned by the server from here) turns spans on. Raises ConfigError without TLS
    files or explicit plaintext, OSError when a port (gRPC, health or metrics) cannot be bound.
    """
    tls = internal_tls(settings.tls, ENV_PREFIX)
    if settings.auth is None:
        raise ConfigError(f"set {ENV_PREFIX}AUTH__JWKS_PATH or {ENV_PREFIX}AUTH__JWKS_URL: the service verifies "
                          "each caller's token with the user-service's public keys")
    callers = Callers(settings.auth)
    await callers.start()
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

    interceptors = [*observability.server_interceptors(), ValidateRequests(RequestRules(), [SERVICE_NAME])]
    grpc_server = grpc.aio.server(options=COMMON_SERVER_OPTIONS, interceptors=interceptors)
    store = PostcardStore(db, settings.admission)
    watch_metrics = WatchMetrics(registry)
    watcher = TaskWatcher(store, settings.watch.interval_seconds, on_poll=watch_metrics.checked_tasks)
    watch_metrics.count_watches(lambda: watcher.active)
    servicer = PostcardServicer(store, callers, page_tokens(settings), on_task_created=task_created,
                                admission=settings.admission, watcher=watcher)
    pb_grpc.add_PostcardServiceServicer_to_server(servicer, grpc_server)  # type: ignore[no-untyped-call]  # generated, no stub
    health = add_standard_services(grpc_server, [SERVICE_NAME])
    port = bind(grpc_server, settings.host, settings.port, tls)
    try:
        await observability.serve_metrics(settings.host, settings.metrics_port, f"{ENV_PREFIX}METRICS_PORT")
    except OSError:
        await grpc_server.stop(None)
        await callers.close()
        raise

    server = ServiceServer(
        grpc_server, health, [SERVICE_NAME], drain_seconds=settings.drain_seconds, observability=observability
    )
    server.on_drain_end(watcher.close)
    server.on_stop(callers.close)
    if relay is not None:
        server.on_start(relay.start)
        server.on_stop(relay.stop)  # registered first: stopped after the workers
    if pool is not None:
        server.on_start(pool.start)

        async def stop_workers() -> None:
            await pool.stop(settings.grace_seconds)

        server.on_stop(stop_workers)
    await server.serve_health_port(settings.host, settings.health_port, f"{ENV_PREFIX}HEALTH_PORT")
    return server, port


def page_tokens(settings: PostcardServiceSettings) -> PageTokens:
    if settings.page_token_secret is not None:
        return PageTokens(settings.page_token_secret.get_secret_value().encode())
    log.warning("no page token secret: a random one for this process; page tokens will not survive a restart nor "
                f"work on another replica (set {ENV_PREFIX}PAGE_TOKEN_SECRET)")
    return PageTokens(secrets.token_bytes(32))
