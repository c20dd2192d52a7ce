"""python -m gateway [--host H] [--port N]: run the gateway with settings from GATEWAY_* variables."""
from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from telemetry.logs import configure_logging
from telemetry.tracing import tracer_provider_from_env

from .app import create_app
from .routes.table import RouteTableError
from .serve import run
from .settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="postcard-gateway", description=__doc__)
    parser.add_argument("--host", help="bind address (default GATEWAY_HTTP__HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default GATEWAY_HTTP__PORT or 8080)")
    args = parser.parse_args(argv)
    try:
        settings = Settings()  # filled from the environment
    except ValidationError as exc:
        sys.exit(
            f"gateway: invalid settings (GATEWAY_* environment variables):\n{exc}\n"
            "At least GATEWAY_AUTH__JWKS_PATH (or GATEWAY_AUTH__JWKS_URL) and GATEWAY_UPSTREAMS are needed; "
            "see docs/gateway.md. scripts/dev sets them for local development."
        )
    if args.host:
        settings.http.host = args.host
    if args.port is not None:
        settings.http.port = args.port
    configure_logging("gateway", settings.log_level, quiet=("uvicorn", "uvicorn.error", "uvicorn.access"))
    try:
        app = create_app(settings, tracer_provider=tracer_provider_from_env("postcard-gateway"))
    except RouteTableError as exc:
        sys.exit(f"gateway: cannot serve the contracts: {exc}")
    run(app, settings.http, app.state.lifecycle)


if __name__ == "__main__":
    main()
