"""JSON logs on stderr, one object per line, in one shape for the gateway, the services and the worker:

    {"time", "level", "logger", "message", "service", "pid", "request_id", "trace_id", ...fields of the line}

`request_id` is the one bound in `telemetry.context`; `trace_id` is the current OpenTelemetry
span's (null when none is recorded). Idempotent: calling it again replaces the handler.

The line is built by `JsonFormatter`, the shape python-json-logger's `OrjsonFormatter` gives with our
field names (a field passed in `extra` wins over the fixed ones), whose encoder of values orjson cannot
write (exceptions, enums, bytes, ...) it uses; its generic formatting cost about 6 us a line more, and
the gateway writes one line per request (docs/benchmarks.md).

A logger that writes a line per request (the gateway's access log) can write through `BatchedLines`
instead: the same line, built without a LogRecord and written to the same handler's stream once per
event-loop turn for all the lines of that turn (docs/benchmarks.md has what it saves).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
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
        self._second: tuple[int, str] = (-1, "")  # one assignment: a line in another thread sees a whole pair

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self.time_text(record.created, record.msecs)

    def time_text(self, created: float, msecs: float) -> str:
        """logging's default time ("2026-11-25 19:55:28,399"), its date and second formatted once a second."""
        second, text = self._second
        if int(created) != second:
            text = time.strftime(self.default_time_format, self.converter(created))
            self._second = (int(created), text)
        msec_format = self.default_msec_format
        return msec_format % (text, msecs) if msec_format else text

    def head(self, time_text: str, level: str, logger: str, message: str, pid: int | None,
             request_id: str | None, trace_id: str | None) -> dict[str, Any]:
        """The fixed fields every line starts with, in their order."""
        return {"time": time_text, "level": level, "logger": logger, "message": message, "pid": pid,
                "request_id": request_id, "trace_id": trace_id, "service": self.service}

    @staticmethod
    def dumps(line: dict[str, Any]) -> str:
        return orjson.dumps(line, default=orjson_default, option=orjson.OPT_NON_STR_KEYS).decode()

    def format(self, record: logging.LogRecord) -> str:
        line = self.head(self.formatTime(record), record.levelname, record.name, record.getMessage(), record.process,
                         getattr(record, "request_id", None), getattr(record, "trace_id", None))
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return self.dumps(line)


_configured: logging.StreamHandler[Any] | None = None  # the handler configure_logging put on the root logger
_context_filter = RequestContextFilter()


class BatchedLines:
    """One logger's lines as `JsonFormatter` writes them, without a LogRecord, written once per event-loop turn.

    Used only while `configure_logging`'s handler is the one place the logger's lines go (no other handler or
    filter on the way, the logger and its parents propagating): then a line is the dict `JsonFormatter` would
    build, and the lines of one event-loop turn go to the handler's stream in one write, under its lock.
    Otherwise (pytest's caplog, a handler added by hand) each line goes through `logging` as usual. Lines not
    yet written when the process is killed are lost, at most those of one turn; `flush` writes them at once
    (the gateway's shutdown calls it).
    """

    def __init__(self, logger: logging.Logger, *, clock: Callable[[], float] = time.time) -> None:
        self.logger = logger
        self._clock = clock
        self._pending: list[str] = []
        self._handler: logging.StreamHandler[Any] | None = None  # where the pending lines go
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop that will write them

    def log(self, level: int, message: str, fields: dict[str, Any]) -> None:
        """`logger.log(level, message, extra=fields)`, for fields that name no attribute of a LogRecord."""
        if not self.logger.isEnabledFor(level):
            return
        handler = _configured
        if handler is None or handler.level > level or not _only_to(self.logger, handler):
            self.logger.log(level, message, extra=fields)
            return
        formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]
        now = self._clock()
        line = formatter.head(formatter.time_text(now, int((now - int(now)) * 1000) + 0.0),
                              logging.getLevelName(level), self.logger.name, message, _pid,
                              current_request_id(), current_trace_id())
        line.update(fields)
        text = formatter.dumps(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop here: this line alone, now
            _write(handler, [text])
            return
        if self._pending and (handler is not self._handler or loop is not self._loop):
            self.flush()  # logging configured again, or another loop: the earlier lines first
        if not self._pending:
            self._handler, self._loop = handler, loop
            loop.call_soon(self.flush)
        self._pending.append(text)

    def flush(self) -> None:
        """Write the pending lines now."""
        lines, self._pending = self._pending, []
        if lines and self._handler is not None:
            _write(self._handler, lines)


def _only_to(logger: logging.Logger, handler: logging.Handler) -> bool:
    """Whether `handler`, on the root logger, is the only handler and filter `logger`'s records meet."""
    node: logging.Logger | None = logger
    while node is not None and node.parent is not None:  # up to the root, which has no parent
        if node.handlers or node.filters or not node.propagate:
            return False
        node = node.parent
    root = logging.getLogger()
    return root.handlers == [handler] and not root.filters and handler.filters == [_context_filter]


def _write(handler: logging.StreamHandler[Any], lines: list[str]) -> None:
    terminator = handler.terminator
    with handler.lock:  # type: ignore[union-attr]  # a StreamHandler has one
        try:
            handler.stream.write(terminator.join(lines) + terminator)
            handler.flush()
        except Exception:  # as StreamHandler.emit: a log that cannot be written does not stop the server
            handler.handleError(logging.makeLogRecord({"msg": "%d batched log lines", "args": (len(lines),)}))


def _reset_pid() -> None:
    global _pid
    _pid = os.getpid()


_pid = os.getpid()
os.register_at_fork(after_in_child=_reset_pid)


def configure_logging(service: str, level: str = "INFO", quiet: tuple[str, ...] = ()) -> None:
    """Route the root logger to stderr as JSON lines tagged with `service`; `quiet` loggers pass through
    to the root (their own handlers removed), as uvicorn's must."""
    global _configured
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(_context_filter)
    _configured = handler
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in quiet:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
