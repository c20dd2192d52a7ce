"""`python -m services.postcard [--host H] [--port N] [--no-embedded-worker]`: run postcard-service.

Settings come from the environment (`POSTCARD_SERVICE_*`, see settings.py);
the flags override them. Logs are JSON lines on stderr, including one
"postcard-service listening" line with the bound port (useful with --port 0).
SIGINT/SIGTERM: health turns NOT_SERVING, in-flight calls and embedded workers
get `grace_seconds`, then the process exits 0.
"""
from __future__ import annotations

import argparse
import asyncio
import logging

from services.common.logs import configure_logging

from .server import create_server
from .settings import PostcardServiceSettings

log = logging.getLogger("services.postcard")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.postcard", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="interface to bind (default from settings: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind; 0 picks a free one (default 50052)")
    parser.add_argument(
        "--no-embedded-worker",
        action="store_true",
        help="serve gRPC only; run workers separately with python -m services.postcard.worker_main",
    )
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> PostcardServiceSettings:
    settings = PostcardServiceSettings()
    overrides: dict[str, object] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.no_embedded_worker:
        overrides["worker"] = settings.worker.model_copy(update={"embedded": False})
    return settings.model_copy(update=overrides)


async def serve(settings: PostcardServiceSettings) -> None:
    server, port = await create_server(settings)
    log.info(
        "postcard-service listening",
        extra={
            "host": settings.host,
            "port": port,
            "db_path": str(settings.db_path),
            "embedded_workers": settings.worker.count if settings.worker.embedded else 0,
        },
    )
    await server.run_until_signalled(settings.grace_seconds)
    log.info("postcard-service stopped")


def main(argv: list[str] | None = None) -> None:
    settings = load_settings(parse_args(argv))
    configure_logging("postcard-service", settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
