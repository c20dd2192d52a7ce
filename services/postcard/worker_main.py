"""`python -m services.postcard.worker_main [--count N]`: standalone postcard workers.

Reads the same settings as the service (`POSTCARD_SERVICE_*`), so it consumes
the queue of the same SQLite database; run as many such processes as needed
(claims are serialised by the database). `--count` overrides
`worker.count`. Runs until SIGINT/SIGTERM, then stops claiming, gives an
in-flight task `grace_seconds` to finish and otherwise releases it back to the
queue, and exits 0. A worker killed outright (SIGKILL, crash) stops renewing
its lease; the task becomes claimable again when the lease expires.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from services.common.logs import configure_logging

from .db import Database
from .server import create_worker_pool
from .settings import PostcardServiceSettings

log = logging.getLogger("services.postcard.worker_main")


async def run_workers(settings: PostcardServiceSettings) -> None:
    """Run the workers until SIGINT/SIGTERM, then stop them within `grace_seconds`."""
    db = Database(settings.db_path)
    await asyncio.to_thread(db.initialise)
    pool = create_worker_pool(settings, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await pool.start()
    log.info("postcard-worker running", extra={"pid": os.getpid(), "db_path": str(settings.db_path)})
    await stop.wait()
    log.info("postcard-worker stopping", extra={"grace_seconds": settings.grace_seconds})
    await pool.stop(settings.grace_seconds)
    log.info("postcard-worker stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.postcard.worker_main", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--count", type=int, help="workers in this process (default from settings: 1)")
    args = parser.parse_args(argv)
    settings = PostcardServiceSettings()
    if args.count is not None:
        settings = settings.model_copy(update={"worker": settings.worker.model_copy(update={"count": args.count})})
    configure_logging("postcard-worker", settings.log_level)
    asyncio.run(run_workers(settings))


if __name__ == "__main__":
    main()
