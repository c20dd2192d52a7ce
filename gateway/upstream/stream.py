"""An open server-streaming call, as `ServicePool.open_stream` hands it over: after its first message.

    stream = await upstream.open_stream(rpc, request, context)   # GatewayError before the first message
    try:
        async for message in stream:                              # that message, then the rest;
            ...                                                   # GatewayError for a failure after it
    finally:
        stream.cancel()                                           # ends the call now if it still runs

Opening waited for the first message, so that a failure before it (NOT_FOUND,
no endpoint, an open breaker) is an ordinary error the caller can still answer
with a status code, and it gave the endpoint's breaker its verdict then: the
endpoint answered. A half-open breaker's probe is decided at that point, not
after a stream that may last minutes. Afterwards:

- a backend fault (UNAVAILABLE, INTERNAL, ...) counts against the endpoint once more;
- the deadline running out is the stream's maximum duration, not a fault:
  DEADLINE_EXCEEDED with a message saying so;
- the server cancelling the call (a stopping server does) is UNAVAILABLE, no verdict;
- `cancel()` from our side (the HTTP client left) is no verdict either.

`cancel()` is synchronous, so it can run in a `finally` inside a cancelled
task or anyio scope, where an `await` would be interrupted at once.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message

from ..errors import GatewayError
from .breaker import is_backend_fault
from .call import NO_TRACER, CallObserver, CallTracer, backend_error, service_unavailable
from .endpoint import Endpoint
from .rpc import Rpc


class UpstreamStream:
    def __init__(
        self,
        rpc: Rpc,
        call: grpc.aio.UnaryStreamCall[Message, Message],
        rest: AsyncIterator[Message],
        first: Message | None,
        endpoint: Endpoint,
        *,
        observer: CallObserver,
        retry_after_seconds: int,
        tracer: CallTracer = NO_TRACER,
        span: Any = None,  # the try's client span, ended with the stream
    ) -> None:
        self.rpc = rpc
        self.endpoint = endpoint.target
        self._call = call
        self._rest = rest
        self._first = first
        self._breaker = endpoint.breaker
        self._observer = observer
        self._retry_after = retry_after_seconds
        self._code: str | None = None
        self._tracer, self._span = tracer, span
        if first is None:  # it ended (OK) without a message
            self._ended(grpc.StatusCode.OK)

    @property
    def code(self) -> str | None:
        """The gRPC code name the call ended with (CANCELLED after `cancel`); None while it runs."""
        return self._code

    def __aiter__(self) -> UpstreamStream:
        return self

    async def __anext__(self) -> Message:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._code is not None:
            raise StopAsyncIteration
        try:
            return await anext(self._rest)
        except StopAsyncIteration:
            self._ended(grpc.StatusCode.OK)
            raise
        except grpc.aio.AioRpcError as error:
            raise self._failed(error) from None
        except asyncio.CancelledError:
            self.cancel()
            raise

    def cancel(self) -> None:
        """End the call now (no verdict on the endpoint); nothing happens once it has ended."""
        if self._code is None:
            self._call.cancel()
            self._ended(grpc.StatusCode.CANCELLED)

    async def aclose(self) -> None:
        """`cancel`, then let the call's own iterator finish (where awaiting is possible)."""
        self.cancel()
        aclose = getattr(self._rest, "aclose", None)
        if aclose is not None:
            await aclose()

    def _failed(self, error: grpc.aio.AioRpcError) -> GatewayError:
        code = error.code()
        self._ended(code, error.details())
        if code == grpc.StatusCode.CANCELLED:  # the server cancelled it: a stopping server does
            return service_unavailable(self.rpc.service, "the service cancelled the stream", self._retry_after)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return GatewayError(code, "the stream reached its maximum duration")
        failure = backend_error(error, self._retry_after)
        if is_backend_fault(failure):
            self._breaker.record(False, fault=True)
        return failure

    def _ended(self, code: grpc.StatusCode, details: str | None = None) -> None:
        self._code = code.name
        self._observer.stream_ended(self.rpc, self.endpoint, code.name)
        self._tracer.end(self._span, code, details)
