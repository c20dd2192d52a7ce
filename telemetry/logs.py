"""JSON logs on stderr, one object per line, in one shape for the gateway, the services and the worker:

    {"time", "level", "logger", "message", "service", "pid", "request_id", "trace_id", ...fields of the line}

`request_id` is the one bound in `telemetry.context`; `trace_id` is the current OpenTelemetry
span's (null when none is recorded). Idempotent: calling it again replaces the handler.
"""
from __future__ import annotations

import logging
import sys

from pythonjsonlogger.orjson import OrjsonFormatter

from .context import current_request_id
from .tracing import current_trace_id


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `trace_id` to every record (a handler's filter: it sees every logger's records)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace_id()
        return True


def configure_logging(service: str, level: str = "INFO", quiet: tuple[str, ...] = ()) -> None:
    """Route the root logger to stderr as JSON lines tagged with `service`; `quiet` loggers pass through
    to the root (their own handlers removed), as uvicorn's must."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        OrjsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d %(request_id)s %(trace_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in quiet:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
