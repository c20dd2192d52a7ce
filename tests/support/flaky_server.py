"""A real gRPC server of the test-only FlakyService whose health and failures the test controls.

Built from the descriptors (generic handlers), with the standard grpc.health.v1
servicer and server reflection left out. Each instance counts the calls it
received per method; `fail_with` makes every call fail with a status, `hold`
makes calls wait until released (a stalled backend without fixed sleeps).
"""
from __future__ import annotations

import asyncio
import importlib
from collections import Counter
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

FLAKY_MODULE = "postcardtest.flaky.v1.flaky_pb2"
FLAKY_SERVICE = "postcardtest.flaky.v1.FlakyService"


class CheckOnlyHealth(health_aio.HealthServicer):
    """A health service of an older server: Check but no Watch."""

    async def Watch(self, request: Any, context: Any) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Watch is not implemented")


class FlakyBackend:
    """`health`: "watch" (the standard servicer), "check-only", or "none" (no health service at all)."""

    def __init__(self, name: str, *, health: str = "watch", interceptors: list[Any] | None = None) -> None:
        self.name = name
        self.calls: Counter[str] = Counter()
        self.received_metadata: list[dict[str, str]] = []
        self.fail_with: grpc.StatusCode | None = None
        self.items: list[str] = []
        self.hold: asyncio.Event | None = None  # when set to an unset Event, calls wait for it
        self.health = {"watch": health_aio.HealthServicer, "check-only": CheckOnlyHealth}.get(health, lambda: None)()
        self.port = 0
        self._interceptors = interceptors
        self._server: grpc.aio.Server | None = None

    async def start(self, port: int = 0) -> int:
        importlib.import_module(FLAKY_MODULE)
        service = descriptor_pool.Default().FindServiceByName(FLAKY_SERVICE)
        handlers = {
            method.name: grpc.unary_unary_rpc_method_handler(
                self._handler(method.name, message_factory.GetMessageClass(method.output_type)),
                request_deserializer=message_factory.GetMessageClass(method.input_type).FromString,
                response_serializer=message_factory.GetMessageClass(method.output_type).SerializeToString,
            )
            for method in service.methods
        }
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)], interceptors=self._interceptors)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(FLAKY_SERVICE, handlers),))
        if self.health is not None:
            health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
            await self.health.set(FLAKY_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        self._server = server
        return self.port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def set_serving(self, serving: bool) -> None:
        assert self.health is not None
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self.health.set(FLAKY_SERVICE, status)

    async def stop(self, grace: float | None = None) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def _handler(self, method: str, response_class: Any) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            self.calls[method] += 1
            self.received_metadata.append(
                {item.key: item.value for item in context.invocation_metadata() or () if isinstance(item.value, str)}
            )
            if self.hold is not None:
                await self.hold.wait()
            if self.fail_with is not None:
                await context.abort(self.fail_with, f"{self.name} fails on purpose")
            if method == "Read":
                return response_class(key=request.key, served_by=self.name)
            if method == "Write":
                return response_class(served_by=self.name)
            return response_class(items=self.items)

        return handle
