"""The error boundary of every RPC handler: deliberate statuses pass, anything else is hidden."""
from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]  # what a servicer method gets (grpc-stubs makes it generic)

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])
StreamHandler = TypeVar("StreamHandler", bound=Callable[..., AsyncIterator[Any]])


class InvalidArgument(ValueError):
    """Raised by validation; the RPC ends with INVALID_ARGUMENT and this message (which names the field)."""


def guarded(handler: Handler) -> Handler:
    """Wrap a servicer method `(self, request, context)`.

    `context.abort(...)` keeps its status; `InvalidArgument` becomes INVALID_ARGUMENT; any other
    exception becomes INTERNAL "internal error": the client never sees a stack trace, an exception
    text or a SQL message, the details go to the log.
    """

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await handler(self, request, context)
        except Exception as error:
            await _abort_for(error, context, handler.__name__)

    return wrapper  # type: ignore[return-value]


def guarded_stream(handler: StreamHandler) -> StreamHandler:
    """`guarded` for a server-streaming method written as an async generator (it `yield`s its messages).

    It stays an async generator, which the tracing interceptor needs to trace it. A failure after
    some messages ends the stream with the same statuses.
    """

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            async for message in handler(self, request, context):
                yield message
        except Exception as error:
            await _abort_for(error, context, handler.__name__)

    return wrapper  # type: ignore[return-value]


async def _abort_for(error: Exception, context: grpc.aio.ServicerContext[Any, Any], rpc: str) -> None:
    if isinstance(error, grpc.aio.AbortError):
        raise error
    if isinstance(error, InvalidArgument):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    log.exception("unhandled error", extra={"rpc": rpc})
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
