"""python -m gateway [--host H] [--port N] [--workers N]: run the gateway with settings from GATEWAY_* variables.

With --workers N (N > 1) a supervisor runs N gateway processes on the same port (gateway/workers.py).
"""
# ruff: noqa: E402 (grpc's setting is applied before the imports that load grpc)
from __future__ import annotations

from .grpc_runtime import configure_grpc

configure_grpc()  # before anything imports grpc

import argparse
import sys

from pydantic import ValidationError

from telemetry.logs import configure_logging
from telemetry.tracing import tracer_provider_from_env
from trust.tls import TlsError

from .app import create_app
from .routes.table import RouteTableError
from .serve import run
from .settings import Settings
from .workers import Supervisor, reuse_port_socket


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="postcard-gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="bind address (default GATEWAY_HTTP__HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default GATEWAY_HTTP__PORT or 8080)")
    parser.add_argument("--workers", type=int, default=1, help="gateway processes sharing the port (default 1)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of a supervisor's workers
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        settings = Settings()  # filled from the environment
    except ValidationError as exc:
        sys.exit(
            f"gateway: invalid settings (GATEWAY_* environment variables):\n{exc}\n"
            "At least GATEWAY_AUTH__JWKS_PATH (or GATEWAY_AUTH__JWKS_URL), GATEWAY_UPSTREAMS and the upstream TLS "
            "files (GATEWAY_UPSTREAM_TLS__*) are needed; "
            "see docs/gateway.md. scripts/dev sets them for local development."
        )
    if args.host:
        settings.http.host = args.host
    if args.port is not None:
        settings.http.port = args.port
    configure_logging("gateway", settings.log_level, quiet=("uvicorn", "uvicorn.error", "uvicorn.access"))
    serving = args.workers == 1  # else this process only supervises, and needs no tracer
    try:
        app = create_app(settings, tracer_provider=tracer_provider_from_env("postcard-gateway") if serving else None)
    except RouteTableError as exc:
        sys.exit(f"gateway: cannot serve the contracts: {exc}")
    except TlsError as exc:
        sys.exit(f"gateway: cannot use the upstream TLS files (GATEWAY_UPSTREAM_TLS__*): {exc}")
    if not serving:  # the contracts and settings were checked just now: the workers will start
        sys.exit(Supervisor(args.workers, settings.http.host, settings.http.port).run())
    sockets = [reuse_port_socket(settings.http.host, settings.http.port)] if args.worker else None
    run(app, settings.http, app.state.lifecycle, sockets)


if __name__ == "__main__":
    main()
