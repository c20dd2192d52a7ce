"""`python -m services.postcard [--host H] [--port N] [--no-embedded-worker]`: run postcard-service.

Settings come from the environment (`POSTCARD_SERVICE_*`, see services.postcard.settings); the
flags override them. Logs are JSON lines on stderr, including one "postcard-service listening"
line with the bound port (useful with --port 0). SIGINT/SIGTERM: health turns NOT_SERVING, calls
are still served for `drain_seconds`, in-flight calls and embedded workers get `grace_seconds`,
then the process exits 0. Exit 2: bad configuration; exit 1: the port is taken or a file cannot
be created (one log line says which; see services.common.entrypoint).
"""
from __future__ import annotations

import argparse
from typing import Any

from services.common.entrypoint import run_process, serve
from services.postcard.server import create_server
from services.postcard.settings import PostcardServiceSettings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.postcard", description="Run postcard-service (gRPC).")
    parser.add_argument("--host", help="address to listen on (default: POSTCARD_SERVICE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any free port (default: 50052)")
    parser.add_argument(
        "--no-embedded-worker",
        action="store_true",
        help="serve gRPC only; run workers separately with python -m services.postcard.worker_main",
    )
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> PostcardServiceSettings:
    """The environment's settings, with the command line's values on top."""
    overrides: dict[str, Any] = {
        name: value for name in ("host", "port") if (value := getattr(args, name)) is not None
    }
    if args.no_embedded_worker:
        overrides["worker"] = {"embedded": False}  # merged with the WORKER__* variables
    return PostcardServiceSettings(**overrides)


async def run(settings: PostcardServiceSettings) -> None:
    await serve(
        "postcard-service",
        create_server,
        settings,
        db_path=str(settings.db_path),
        embedded_workers=settings.worker.count if settings.worker.embedded else 0,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_process("postcard-service", lambda: load_settings(args), run)


if __name__ == "__main__":
    raise SystemExit(main())
