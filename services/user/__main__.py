"""``python -m services.user [--host H] [--port N]``: run the user-service until SIGINT/SIGTERM.

Settings come from ``USER_SERVICE_*`` variables (see services.user.settings); ``--host`` and
``--port`` override them. Logs are JSON lines on stderr. On a signal, health turns NOT_SERVING,
in-flight calls get ``grace_seconds`` to finish, then the process exits 0. A configuration error
exits 2 with one log line saying what to set.
"""
from __future__ import annotations

import argparse
import asyncio
import logging

from pydantic import ValidationError

from services.common.logs import configure_logging
from services.user.server import create_server
from services.user.settings import ConfigError, UserServiceSettings

log = logging.getLogger("services.user")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.user", description="Run the user-service (gRPC).")
    parser.add_argument("--host", help="address to listen on (default: USER_SERVICE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any free port (default: 50051)")
    return parser.parse_args(argv)


async def serve(settings: UserServiceSettings) -> None:
    server, port = await create_server(settings)

    async def announce() -> None:
        log.info("user-service listening", extra={"host": settings.host, "port": port})

    server.on_start(announce)
    await server.run_until_signalled(settings.grace_seconds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("user-service")
    try:
        overrides = {name: value for name in ("host", "port") if (value := getattr(args, name)) is not None}
        settings = UserServiceSettings(**overrides)
    except ValidationError as exc:
        log.error("invalid configuration: %s", exc)
        return 2
    configure_logging("user-service", settings.log_level)
    try:
        asyncio.run(serve(settings))
    except ConfigError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
