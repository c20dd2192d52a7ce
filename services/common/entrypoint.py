"""The process entry point every service shares: settings, logging, run, exit code.

Exit codes, the same for every service and worker process:

- 0: stopped by SIGINT/SIGTERM after a graceful stop;
- 2: bad configuration (a settings validation error or a `ConfigError`), one log line saying what
  to set;
- 1: the system refused (the port is taken, a file cannot be created: any `OSError`), one log line.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from services.common.config import ConfigError
from services.common.server import ServiceServer
from telemetry.logs import configure_logging
from telemetry.tracing import tracer_provider_from_env

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SYSTEM_ERROR = 1
EXIT_CONFIG_ERROR = 2


class ServerSettings(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def grace_seconds(self) -> float: ...


class ProcessSettings(Protocol):
    @property
    def log_level(self) -> str: ...


S = TypeVar("S", bound=ProcessSettings)
SS = TypeVar("SS", bound=ServerSettings)


def run_process(name: str, load_settings: Callable[[], S], body: Callable[[S], Coroutine[Any, Any, None]]) -> int:
    """Load the settings, configure JSON logging as `name`, run `body` to its end; the exit code."""
    configure_logging(name)
    try:
        settings = load_settings()
    except ValidationError as exc:
        log.error("invalid configuration: %s", exc)
        return EXIT_CONFIG_ERROR
    configure_logging(name, settings.log_level)
    try:
        asyncio.run(body(settings))
    except ConfigError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_CONFIG_ERROR
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_SYSTEM_ERROR
    return EXIT_OK


async def serve(
    name: str,
    create_server: Callable[..., Awaitable[tuple[ServiceServer, int]]],
    settings: SS,
    **details: Any,
) -> None:
    """Create, start and run a server until SIGINT/SIGTERM, then stop it gracefully.

    `create_server(settings, tracer_provider=...)` gets the provider the OTEL_* variables ask for
    (`telemetry.tracing`; service name `name` unless OTEL_SERVICE_NAME says otherwise), or None.
    Logs "<name> listening" (host, bound port, `details`) once started, and "<name> stopped" at the end.
    """
    server, port = await create_server(settings, tracer_provider=tracer_provider_from_env(name))

    async def announce() -> None:
        ports = {f"{name}_port": number for name, number in server.http_ports.items()}
        if server.health_port is not None:
            ports["health_port"] = server.health_port
        log.info(f"{name} listening", extra={"host": settings.host, "port": port, **ports, **details})

    server.on_start(announce)
    await server.run_until_signalled(settings.grace_seconds)
    log.info(f"{name} stopped")
