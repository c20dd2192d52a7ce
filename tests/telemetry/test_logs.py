"""The JSON log line: the shape python-json-logger's OrjsonFormatter gives, field for field and byte for byte."""
from __future__ import annotations

import enum
import logging
import sys

import orjson
import pytest
from pythonjsonlogger.orjson import OrjsonFormatter

from telemetry.context import bind_request_id, unbind_request_id
from telemetry.logs import JsonFormatter, RequestContextFilter

REFERENCE = OrjsonFormatter(  # what configure_logging used before JsonFormatter
    "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d %(request_id)s %(trace_id)s",
    rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
    static_fields={"service": "gateway"},
)


class Colour(enum.Enum):
    RED = 1


def record(message: str, args: tuple[object, ...] = (), exc_info: object = None, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("gateway.test").makeRecord(
        "gateway.test", logging.WARNING, "f.py", 1, message, args, exc_info, extra=extra  # type: ignore[arg-type]
    )
    RequestContextFilter().filter(made)
    return made


def _raised() -> object:
    try:
        raise ValueError("bad value")
    except ValueError:
        return sys.exc_info()


@pytest.mark.parametrize(
    "made",
    [
        lambda: record("plain"),
        lambda: record("with %s and %d%%", ("args", 5)),
        lambda: record("access", method="GET", status=200, duration_ms=1.25, user_id=None, route="/a/{b}"),
        lambda: record("odd values", colour=Colour.RED, raw=b"\x00\xff", error=KeyError("k"), nested={"a": [1, 2]}),
        lambda: record("an extra field wins over a fixed one", service="postcardapp.user.v1.UserService"),
        lambda: record("failed", exc_info=_raised()),
    ],
    ids=["plain", "args", "access", "odd-values", "extra-wins", "traceback"],
)
def test_the_line_is_the_one_python_json_logger_writes(made: object) -> None:
    line = made()  # type: ignore[operator]
    assert JsonFormatter("gateway").format(line) == REFERENCE.format(line)


def test_the_bound_request_id_and_the_fields_of_the_shape() -> None:
    token = bind_request_id("0123456789abcdef0123456789abcdef")
    try:
        line = orjson.loads(JsonFormatter("gateway").format(record("hello", route="/x")))
    finally:
        unbind_request_id(token)
    assert list(line)[:8] == ["time", "level", "logger", "message", "pid", "request_id", "trace_id", "service"]
    assert line["request_id"] == "0123456789abcdef0123456789abcdef"
    assert (line["level"], line["logger"], line["message"], line["service"], line["route"]) == (
        "WARNING", "gateway.test", "hello", "gateway", "/x")
