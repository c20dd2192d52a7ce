"""JSON logs on stderr, one object per line, in one shape for the gateway, the services and the worker:

    {"time", "level", "logger", "message", "service", "pid", "request_id", "trace_id", ...fields of the line}

`request_id` is the one bound in `telemetry.context`; `trace_id` is the current OpenTelemetry
span's (null when none is recorded). Idempotent: calling it again replaces the handler.

The line is built by `JsonFormatter`, the shape python-json-logger's `OrjsonFormatter` gives with our
field names (a field passed in `extra` wins over the fixed ones), whose encoder of values orjson cannot
write (exceptions, enums, bytes, ...) it uses; its generic formatting cost about 6 us a line more, and
the gateway writes one line per request (docs/benchmarks.md).
"""
from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
from pythonjsonlogger.orjson import orjson_default

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


# Every record has these attributes; any other one is a field its caller passed in `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "service": self.service,
        }
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=orjson_default, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(service: str, level: str = "INFO", quiet: tuple[str, ...] = ()) -> None:
    """Route the root logger to stderr as JSON lines tagged with `service`; `quiet` loggers pass through
    to the root (their own handlers removed), as uvicorn's must."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in quiet:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
