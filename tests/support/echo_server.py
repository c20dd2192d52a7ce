"""A real gRPC server for the test-only EchoService, built from its descriptors alone.

No generated *_pb2_grpc is needed: generic handlers with message classes from
the descriptor pool, the same way a team's new service would be reached.
"""
from __future__ import annotations

import asyncio
import importlib
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory

from .contracts import ECHO_MODULE, ECHO_SERVICE


def _classes(method: Any) -> tuple[Any, Any]:
    return message_factory.GetMessageClass(method.input_type), message_factory.GetMessageClass(method.output_type)


async def start_echo_server() -> tuple[grpc.aio.Server, int]:
    importlib.import_module(ECHO_MODULE)
    service = descriptor_pool.Default().FindServiceByName(ECHO_SERVICE)
    methods = {m.name: m for m in service.methods}

    echo_in, echo_out = _classes(methods["Echo"])
    shelf_in, shelf_out = _classes(methods["UpdateShelfItem"])
    who_in, who_out = _classes(methods["WhoAmI"])

    async def echo(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.text == "fail-internal":
            await context.abort(grpc.StatusCode.INTERNAL, "database password is hunter2")
        if request.text == "fail-not-found":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such echo")
        if request.text == "slow":
            await asyncio.Event().wait()  # never answers: the caller's deadline ends the call
        cache_control = "public, max-age=60" if request.text == "cacheable" else "no-store"
        context.set_trailing_metadata((("cache-control", cache_control), ("x-internal-secret", "s")))
        return echo_out(request=request)

    async def update(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return request.item

    async def whoami(request: Any, context: grpc.aio.ServicerContext) -> Any:
        received = {item.key: item.value for item in context.invocation_metadata() if isinstance(item.value, str)}
        # A backend that thinks its answer cacheable; the gateway must not agree on an authenticated route.
        context.set_trailing_metadata((("cache-control", "public, max-age=600"),))
        return who_out(metadata=received)

    def unary(fn: Any, request_class: Any, response_class: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=request_class.FromString, response_serializer=response_class.SerializeToString
        )

    handler = grpc.method_handlers_generic_handler(
        ECHO_SERVICE,
        {
            "Echo": unary(echo, echo_in, echo_out),
            "UpdateShelfItem": unary(update, shelf_in, shelf_out),
            "WhoAmI": unary(whoami, who_in, who_out),
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
