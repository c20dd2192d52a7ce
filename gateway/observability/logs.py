"""JSON logs on stderr, one object per line, each carrying the current request id and trace id."""
from __future__ import annotations

import logging
import sys

from pythonjsonlogger.orjson import OrjsonFormatter

from .request_id import current_request_id
from .tracing import current_trace_id


class _RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace_id()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Route the root logger (and uvicorn's) to stderr as JSON. Idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        OrjsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": "gateway"},
        )
    )
    handler.addFilter(_RequestContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
