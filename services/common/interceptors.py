"""Every call a service handles: its request id bound, one log line, the RPC metrics.

`ObserveCalls` is a `grpc.aio` server interceptor. For the duration of each handler it binds the
call's `x-request-id` metadata (the gateway's id; 1-128 of `[A-Za-z0-9._:-]`, anything else is
not bound) with `telemetry.context`, so every log line of the call carries it, then writes one
line on the "services.rpc" logger and counts the call:

    {"message": "rpc", "method": "/postcardapp.postcard.v1.PostcardService/CreatePostcard",
     "grpc_code": "OK", "duration_ms": 3.1, "user_id": "...", "request_id": "...", "trace_id": "..."}

INFO for the service's own methods; DEBUG for the standard health and reflection services, whose
probes and watch streams would drown the log. An interceptor only returns a handler, so the
handler's behaviour is wrapped (`wrap_handler`), whatever its kind: a coroutine (unary response, or
a stream written with `context.write`) or an async generator (a stream that yields).
"""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc

from services.common.identity import metadata_value, verified_caller
from services.common.metrics import RpcMetrics
from telemetry.context import REQUEST_ID_METADATA, bind_request_id, unbind_request_id, valid_request_id

rpc_log = logging.getLogger("services.rpc")

# The gateway's rule for a request id (gateway/observability/request_id.py).
_QUIET_SERVICES = ("grpc.health.v1.", "grpc.reflection.")

Around = Callable[[grpc.aio.ServicerContext[Any, Any]], contextlib.AbstractContextManager[None]]

# (request_streaming, response_streaming) -> the handler's attribute, its factory, go-grpc-prometheus's type
_KINDS: dict[tuple[bool, bool], tuple[str, Callable[..., grpc.RpcMethodHandler[Any, Any]], str]] = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler, "unary"),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler, "server_stream"),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler, "client_stream"),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler, "bidi_stream"),
}


def call_type(handler: grpc.RpcMethodHandler[Any, Any]) -> str:
    return _KINDS[(handler.request_streaming, handler.response_streaming)][2]


def wrap_handler(handler: grpc.RpcMethodHandler[Any, Any], around: Around) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler` with its behaviour run inside `around(context)`; a synchronous behaviour is left as is."""
    attribute, factory, _ = _KINDS[(handler.request_streaming, handler.response_streaming)]
    behavior = getattr(handler, attribute)
    wrapped: Callable[..., Any]
    if inspect.isasyncgenfunction(behavior):

        async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with around(context):
                async for response in behavior(request, context):
                    yield response

    elif inspect.iscoroutinefunction(behavior):

        async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with around(context):
                return await behavior(request, context)

    else:
        return handler
    return factory(
        wrapped, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


class ObserveCalls(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Binds the request id, logs and counts every call (see the module docstring)."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(  # type: ignore[override]  # grpc-stubs forgets None, gRPC's "no such method"
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED, and no label grows
            return None
        method: str = handler_call_details.method
        kind = call_type(handler)
        return wrap_handler(handler, lambda context: self._observe(context, method, kind))

    @contextlib.contextmanager
    def _observe(self, context: grpc.aio.ServicerContext[Any, Any], method: str, kind: str) -> Iterator[None]:
        token = bind_request_id(_request_id(context))
        caller = verified_caller.set(None)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            seconds = time.perf_counter() - started
            code = _code(context, error)
            service, _, name = method.lstrip("/").rpartition("/")
            self._metrics.observe(service, name, kind, code, seconds)
            level = logging.DEBUG if service.startswith(_QUIET_SERVICES) else logging.INFO
            if rpc_log.isEnabledFor(level):
                rpc_log.log(level, "rpc", extra={
                    "method": method,
                    "grpc_code": code.name,
                    "duration_ms": round(seconds * 1000, 3),
                    "user_id": verified_caller.get(),  # set when the handler verified the caller's token
                })
            with contextlib.suppress(ValueError):  # a stream finalised outside its call's context
                verified_caller.reset(caller)
                unbind_request_id(token)


def _request_id(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    return valid_request_id(metadata_value(context, REQUEST_ID_METADATA))


def _code(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> grpc.StatusCode:
    """The status the call ends with: the one set or aborted with, else what gRPC makes of `error`."""
    if error is None or isinstance(error, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        # gRPC cancels the handler when the client goes away or the deadline passes.
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN
