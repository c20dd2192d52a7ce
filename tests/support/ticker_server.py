"""A real gRPC server of the test-only TickerService (server streaming) whose streams the test controls.

A `ScriptedBackend` (scripted_server.py: health, call counts, cancellations,
`fail_with`, `active_streams`) sending `count` ticks, each with its own name,
then ending as the request's `then` says: "" ends the stream, "hold" keeps it
open until it is cancelled, a gRPC code name fails it; `fail_first` fails it
before the first tick.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message

from tests.support.scripted_server import ScriptedBackend

TICKER_MODULE = "postcardtest.ticker.v1.ticker_pb2"
TICKER_SERVICE = "postcardtest.ticker.v1.TickerService"


class TickerBackend(ScriptedBackend):
    def __init__(self, name: str, *, health: str = "watch") -> None:
        super().__init__(name, TICKER_SERVICE, TICKER_MODULE, health=health)

    async def stream(
        self, method: str, request: Any, response_class: type[Message], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Message]:
        if request.fail_first:
            await context.abort(grpc.StatusCode[request.fail_first], f"{self.name} fails first")
        for n in range(1, request.count + 1):
            yield response_class(n=n, text=self.name)
        if request.then == "hold":
            await asyncio.Event().wait()  # until the caller cancels, the deadline passes or the server stops
        elif request.then:
            await context.abort(grpc.StatusCode[request.then], f"{self.name} ends with {request.then}")
