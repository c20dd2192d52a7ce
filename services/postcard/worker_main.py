"""`python -m services.postcard.worker_main [--count N]`: standalone postcard workers.

Reads the same settings as the service (`POSTCARD_SERVICE_*`), so it consumes
the queue of the same database: its `queue` table (SQLite backend: claims are
serialised by the database), or the Redis stream that table is relayed to
(Redis backend: this process relays it too, so tasks accepted by a service that
died before relaying them still reach a worker). Run as many such processes as
needed. `--count` overrides `worker.count`. Runs until SIGINT/SIGTERM, then
stops claiming, gives an in-flight task `grace_seconds` to finish and otherwise
releases it back to the queue, and exits 0. A worker killed outright (SIGKILL,
crash) stops renewing its lease; the task becomes claimable again when the
lease expires. A database or Redis that fails is retried with a back-off, never
an exit. Exit codes as the services (services.common.entrypoint): 2 bad
configuration, 1 the database cannot be created or the metrics port cannot be
bound.

Observed like the services: the log lines of a task carry the request id of
the create call that queued it; spans when the OTEL_* variables turn tracing
on (service name "postcard-worker"); Prometheus metrics of this process's
workers on `worker.metrics_port` when it is set.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from typing import Any

from services.common.entrypoint import run_process
from services.common.observability import Observability
from services.common.sqlite import Database
from services.postcard.outbox import create_outbox_relay
from services.postcard.schema import open_database
from services.postcard.settings import ENV_PREFIX, PostcardServiceSettings
from services.postcard.worker import create_worker_pool
from telemetry.tracing import tracer_provider_from_env

log = logging.getLogger("services.postcard.worker_main")  # not __name__: "__main__" under -m
NAME = "postcard-worker"
METRICS_PORT_VARIABLE = f"{ENV_PREFIX}WORKER__METRICS_PORT"


async def run_workers(settings: PostcardServiceSettings) -> None:
    """Run the workers until SIGINT/SIGTERM, then stop them within `grace_seconds`."""
    db = await asyncio.to_thread(open_database, settings.db_path)
    observability = Observability(tracer_provider_from_env(NAME))
    try:
        await observability.serve_metrics(settings.host, settings.worker.metrics_port, METRICS_PORT_VARIABLE)
        await _work(settings, db, observability)
    finally:
        await observability.close()
    log.info("postcard-worker stopped")


async def _work(settings: PostcardServiceSettings, db: Database, observability: Observability) -> None:
    relay = create_outbox_relay(settings, db, observability.registry)
    pool = create_worker_pool(settings, db, registry=observability.registry,
                              tracer_provider=observability.tracer_provider)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if relay is not None:
        await relay.start()
    await pool.start()
    log.info("postcard-worker running", extra={"pid": os.getpid(), "db_path": str(settings.db_path),
                                               "queue_backend": settings.queue.backend})
    await stop.wait()
    log.info("postcard-worker stopping", extra={"grace_seconds": settings.grace_seconds})
    await pool.stop(settings.grace_seconds)
    if relay is not None:
        await relay.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.postcard.worker_main", description="Run standalone postcard workers."
    )
    parser.add_argument("--count", type=int, help="workers in this process (default from settings: 1)")
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> PostcardServiceSettings:
    """The environment's settings, with `--count` on top."""
    overrides: dict[str, Any] = {"worker": {"count": args.count}} if args.count is not None else {}
    return PostcardServiceSettings(**overrides)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_process(NAME, lambda: load_settings(args), run_workers)


if __name__ == "__main__":
    raise SystemExit(main())
