"""BatchedLines: the line JsonFormatter writes, without a LogRecord, written once per event-loop turn."""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from telemetry.context import bind_request_id, unbind_request_id
from telemetry.logs import BatchedLines, configure_logging

NOW = 1_764_099_328.399  # a fixed clock: the line's time is then known
FIELDS = {"method": "GET", "route": "/a/{b}", "status": 200, "duration_ms": 1.25, "user_id": None}


class CountingStream(io.StringIO):
    """A stream that counts its writes (one per batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@contextlib.contextmanager
def json_log(*, others: tuple[logging.Handler, ...] = ()) -> Iterator[CountingStream]:
    """configure_logging's handler, writing to a counting stream, as the root's only handler (with `others`).

    In the test's body: pytest adds its own capturing handlers to the root logger for each test phase.
    """
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("gateway", "INFO")
    written = CountingStream()
    root.handlers[0].setStream(written)  # type: ignore[attr-defined]
    root.handlers.extend(others)
    try:
        yield written
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_the_line_is_the_one_the_handler_writes_for_the_same_record() -> None:
    with json_log() as stream:
        logger = logging.getLogger("gateway.test.batched")
        token = bind_request_id("req-1")
        try:
            BatchedLines(logger, clock=lambda: NOW).log(logging.INFO, "access", FIELDS)  # no loop: written at once
            record = logger.makeRecord(logger.name, logging.INFO, "f.py", 1, "access", (), None, extra=FIELDS)
            record.created, record.msecs = NOW, int((NOW - int(NOW)) * 1000) + 0.0
            logging.getLogger().handlers[0].handle(record)
        finally:
            unbind_request_id(token)
        batched, logged = stream.getvalue().splitlines()
        assert batched == logged
        assert orjson.loads(batched)["request_id"] == "req-1"


async def test_the_lines_of_one_turn_are_one_write_in_order_before_the_next_turn() -> None:
    with json_log() as stream:
        lines = BatchedLines(logging.getLogger("gateway.test.batched"))
        for status in (200, 201, 404):
            lines.log(logging.INFO, "access", {**FIELDS, "status": status})
        assert stream.getvalue() == ""  # not yet: at the end of this turn
        await asyncio.sleep(0)
        assert [line["status"] for line in lines_of(stream)] == [200, 201, 404]
        assert stream.writes == 1
        lines.log(logging.INFO, "access", {**FIELDS, "status": 500})
        await asyncio.sleep(0)
        assert [line["status"] for line in lines_of(stream)] == [200, 201, 404, 500]
        assert stream.writes == 2


async def test_flush_writes_the_pending_lines_at_once() -> None:
    with json_log() as stream:
        lines = BatchedLines(logging.getLogger("gateway.test.batched"))
        lines.log(logging.INFO, "access", FIELDS)
        lines.flush()  # as the gateway's shutdown does
        assert len(lines_of(stream)) == 1
        await asyncio.sleep(0)  # the turn's own flush then finds nothing more
        assert len(lines_of(stream)) == 1


def test_lines_left_by_a_loop_that_ended_are_written_with_the_next_line() -> None:
    with json_log() as stream:
        lines = BatchedLines(logging.getLogger("gateway.test.batched"))

        async def log_and_stop(status: int) -> None:
            lines.log(logging.INFO, "access", {**FIELDS, "status": status})
            asyncio.get_running_loop().stop()  # the loop stops before its flush runs

        for status in (200, 201):
            loop = asyncio.new_event_loop()
            task = loop.create_task(log_and_stop(status))
            loop.run_forever()
            assert task.done()
            loop.close()
        assert [line["status"] for line in lines_of(stream)] == [200]  # the first loop's line, written by the second
        lines.flush()
        assert [line["status"] for line in lines_of(stream)] == [200, 201]


async def test_any_other_handler_gets_the_records_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    with json_log(others=(caplog.handler,)) as stream:
        caplog.set_level(logging.INFO, logger="gateway.test.batched")  # caplog's handler joins the root's
        BatchedLines(logging.getLogger("gateway.test.batched")).log(logging.INFO, "access", FIELDS)
        (record,) = [r for r in caplog.records if r.name == "gateway.test.batched"]
        assert (record.getMessage(), record.__dict__["route"], record.__dict__["status"]) == ("access", "/a/{b}", 200)
        assert len(lines_of(stream)) == 1  # and the JSON handler wrote it, through logging, at once


async def test_a_logger_that_does_not_propagate_is_left_to_logging() -> None:
    with json_log() as stream:
        logger = logging.getLogger("gateway.test.batched.own")
        own = io.StringIO()
        handler = logging.StreamHandler(own)
        logger.addHandler(handler)
        logger.propagate = False
        try:
            BatchedLines(logger).log(logging.INFO, "access", FIELDS)
            await asyncio.sleep(0)
        finally:
            logger.removeHandler(handler)
            logger.propagate = True
        assert own.getvalue() == "access\n"
        assert stream.getvalue() == ""


async def test_a_level_the_logger_does_not_write_writes_nothing() -> None:
    with json_log() as stream:
        BatchedLines(logging.getLogger("gateway.test.batched")).log(logging.DEBUG, "access", FIELDS)
        await asyncio.sleep(0)
        assert stream.getvalue() == ""


async def test_a_stream_that_fails_does_not_fail_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    with json_log() as stream:
        failures: list[str] = []
        handler = logging.getLogger().handlers[0]
        monkeypatch.setattr(handler, "handleError", lambda record: failures.append(record.getMessage()))

        def broken(text: str) -> int:
            raise OSError("disk full")

        monkeypatch.setattr(stream, "write", broken)
        lines = BatchedLines(logging.getLogger("gateway.test.batched"))
        lines.log(logging.INFO, "access", FIELDS)
        lines.log(logging.INFO, "access", FIELDS)
        await asyncio.sleep(0)
        assert failures == ["2 batched log lines"]
