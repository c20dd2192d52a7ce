"""A real gRPC server of the test-only FlakyService whose health and failures the test controls.

A `ScriptedBackend` (scripted_server.py: health, call counts, `fail_with`,
`hold`) answering Read with the key and its own name, Write with its name,
Mine with `items`, a page at a time when a page size is asked for (the page
token is the offset).
"""
from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from tests.support.scripted_server import ScriptedBackend
from trust.tls import TlsFiles

FLAKY_MODULE = "postcardtest.flaky.v1.flaky_pb2"
FLAKY_SERVICE = "postcardtest.flaky.v1.FlakyService"


class FlakyBackend(ScriptedBackend):
    """`health`: "watch" (the standard servicer), "check-only", or "none" (no health service at all)."""

    def __init__(self, name: str, *, health: str = "watch", interceptors: list[Any] | None = None,
                 tls: TlsFiles | None = None, server_options: list[tuple[str, Any]] | None = None) -> None:
        super().__init__(name, FLAKY_SERVICE, FLAKY_MODULE, health=health, interceptors=interceptors, tls=tls,
                         server_options=server_options)
        self.items: list[str] = []

    def answer(self, method: str, request: Any, response_class: type[Message]) -> Message:
        if method == "Read":
            return response_class(key=request.key, served_by=self.name)
        if method == "Write":
            return response_class(served_by=self.name)
        start = int(request.after or 0)
        end = start + request.size if request.size else len(self.items)
        return response_class(items=self.items[start:end], next=str(end) if end < len(self.items) else "")
