"""JSON logs on stderr: one object per line, for the services and their workers."""
from __future__ import annotations

import logging
import sys

from pythonjsonlogger.orjson import OrjsonFormatter


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON lines tagged with the service name.

    Idempotent: calling it again replaces the handler instead of adding one.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        OrjsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
