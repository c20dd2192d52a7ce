"""``python -m services.user [--host H] [--port N]``: run the user-service until SIGINT/SIGTERM.

Settings come from ``USER_SERVICE_*`` variables (see services.user.settings); ``--host`` and
``--port`` override them. Logs are JSON lines on stderr, including one "user-service listening"
line with the bound port (useful with ``--port 0``). On a signal, health turns NOT_SERVING, calls
are still served for ``drain_seconds``, in-flight calls get ``grace_seconds`` to finish, then the
process exits 0. Exit 2: bad configuration; exit 1: the port is taken or a file cannot be created
(one log line says which; see services.common.entrypoint).
"""
from __future__ import annotations

import argparse

from services.common.entrypoint import run_process, serve
from services.user.server import create_server
from services.user.settings import UserServiceSettings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.user", description="Run the user-service (gRPC).")
    parser.add_argument("--host", help="address to listen on (default: USER_SERVICE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any free port (default: 50051)")
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> UserServiceSettings:
    """The environment's settings, with the command line's values on top."""
    overrides = {name: value for name in ("host", "port") if (value := getattr(args, name)) is not None}
    return UserServiceSettings(**overrides)


async def run(settings: UserServiceSettings) -> None:
    await serve("user-service", create_server, settings)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_process("user-service", lambda: load_settings(args), run)


if __name__ == "__main__":
    raise SystemExit(main())
