"""Every request a service's own methods receive is checked against its contract's rules first.

The rules are the `buf.validate` annotations of the request messages (proto/), checked with
protovalidate (`contractrules`). A request that breaks one ends with INVALID_ARGUMENT, its message
naming the first field and rule, and a `google.rpc.BadRequest` with every field violation in the
status details (`grpc-status-details-bin`, as grpcurl and the gateway read it); the handler never
runs, so nothing is stored. `ValidateRequests` is a `grpc.aio` server interceptor placed after the
observing ones, so the call is logged and counted with its INVALID_ARGUMENT like any other.

Rules of every method of the named services are compiled when the interceptor is made (a rule that
cannot compile stops start-up); health and reflection are left alone, and so are requests that
are streams (no method of ours takes one) and synchronous handlers (ours are all asynchronous).
"""
from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_status import rpc_status

from contractrules.violations import RequestRules

Context = grpc.aio.ServicerContext[Any, Any]


class ValidateRequests(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, rules: RequestRules, services: Iterable[str]) -> None:
        self._rules = rules
        pool = descriptor_pool.Default()
        self._prefixes = tuple(f"/{name}/" for name in services)
        methods = [method for name in services for method in pool.FindServiceByName(name).methods]
        rules.prepare(message_factory.GetMessageClass(method.input_type) for method in methods)

    async def intercept_service(  # type: ignore[override]  # grpc-stubs forgets None, gRPC's "no such method"
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or handler.request_streaming or not method.startswith(self._prefixes):
            return handler
        attribute, factory = (
            ("unary_stream", grpc.unary_stream_rpc_method_handler) if handler.response_streaming
            else ("unary_unary", grpc.unary_unary_rpc_method_handler)
        )
        checked = self._checked(getattr(handler, attribute))
        if checked is None:
            return handler
        return factory(
            checked, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )

    def _checked(self, behavior: Any) -> Callable[..., Any] | None:
        """`behavior` after the check: a coroutine (a unary answer, or a stream written with `context.write`)
        or an async generator (a stream that yields), kept as its kind; None for a synchronous one."""
        if inspect.isasyncgenfunction(behavior):

            async def checked_stream(request: Any, context: Context) -> Any:
                await self._refuse_invalid(request, context)
                async for response in behavior(request, context):
                    yield response

            return checked_stream
        if inspect.iscoroutinefunction(behavior):

            async def checked(request: Any, context: Context) -> Any:
                await self._refuse_invalid(request, context)
                return await behavior(request, context)

            return checked
        return None

    async def _refuse_invalid(self, request: Any, context: Context) -> None:
        violations = self._rules.check(request)
        if violations is not None:
            await context.abort_with_status(rpc_status.to_status(violations.status()))  # type: ignore[attr-defined]
