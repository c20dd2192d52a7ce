"""The error boundary of every RPC handler: deliberate statuses pass, anything else is hidden."""
from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]  # what a servicer method gets (grpc-stubs makes it generic)

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


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
        except grpc.aio.AbortError:
            raise
        except InvalidArgument as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except Exception:
            log.exception("unhandled error", extra={"rpc": handler.__name__})
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    return wrapper  # type: ignore[return-value]
