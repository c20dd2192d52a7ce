"""A real gRPC server of any contract's service, built from its descriptors, that the test controls.

Generic handlers for every unary and server-streaming method of the service, with the standard
grpc.health.v1 servicer (or one without Watch, or none) and no reflection. Each
instance counts the calls it received, and those cancelled by the caller, per
method, and keeps their metadata; `fail_with` makes every call fail with a
status, `hold` makes calls wait until released (a stalled backend without
fixed sleeps). What a call answers is the subclass's `answer`; what a stream sends, its `stream`
(`active_streams` counts the streams open now).
"""
from __future__ import annotations

import asyncio
import importlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, Self

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from trust.tls import TlsFiles


class CheckOnlyHealth(health_aio.HealthServicer):
    """A health service of an older server: Check but no Watch."""

    async def Watch(self, request: Any, context: Any) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Watch is not implemented")


class CountingHealth(health_aio.HealthServicer):
    """The standard servicer, counting the Watch streams opened on it."""

    watches = 0

    async def Watch(self, request: Any, context: Any) -> Any:
        self.watches += 1
        return await super().Watch(request, context)


class ScriptedBackend:
    """`service` of the generated `module`; `health`: "watch" (the standard servicer), "check-only", or "none".

    `server_options`: more grpc.aio server options (channel arguments), e.g. a maximum connection age.
    """

    def __init__(
        self, name: str, service: str, module: str, *, health: str = "watch", interceptors: list[Any] | None = None,
        tls: TlsFiles | None = None, server_options: list[tuple[str, Any]] | None = None,
    ) -> None:
        self.name = name
        self.service = service
        self.module = module
        self.calls: Counter[str] = Counter()
        self.cancelled: Counter[str] = Counter()
        self.received_metadata: list[dict[str, str]] = []
        self.active_streams = 0
        self.fail_with: grpc.StatusCode | None = None
        self.hold: asyncio.Event | None = None  # when set to an unset Event, calls wait for it
        self.health = {"watch": CountingHealth, "check-only": CheckOnlyHealth}.get(health, lambda: None)()
        self._server_options = server_options or []
        self.port = 0
        self._interceptors = interceptors
        self._tls = tls  # mutual TLS as the services serve it; plaintext when None
        self._server: grpc.aio.Server | None = None

    def answer(self, method: str, request: Any, response_class: type[Message]) -> Message:
        raise NotImplementedError

    def stream(
        self, method: str, request: Any, response_class: type[Message], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Message]:
        raise NotImplementedError

    async def start(self, port: int = 0) -> int:
        importlib.import_module(self.module)
        service = descriptor_pool.Default().FindServiceByName(self.service)
        handlers = {}
        for method in service.methods:
            response_class = message_factory.GetMessageClass(method.output_type)
            make, behaviour = (
                (grpc.unary_stream_rpc_method_handler, self._stream_handler(method.name, response_class))
                if method.server_streaming
                else (grpc.unary_unary_rpc_method_handler, self._handler(method.name, response_class))
            )
            handlers[method.name] = make(
                behaviour,
                request_deserializer=message_factory.GetMessageClass(method.input_type).FromString,
                response_serializer=response_class.SerializeToString,
            )
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0), *self._server_options],
                                 interceptors=self._interceptors)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(self.service, handlers),))
        if self.health is not None:
            health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
            await self.health.set(self.service, health_pb2.HealthCheckResponse.SERVING)
        address = f"127.0.0.1:{port}"
        self.port = (server.add_secure_port(address, self._tls.server_credentials()) if self._tls
                     else server.add_insecure_port(address))
        await server.start()
        self._server = server
        return self.port

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop(0)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def set_serving(self, serving: bool) -> None:
        assert self.health is not None
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self.health.set(self.service, status)

    async def stop(self, grace: float | None = None) -> None:
        if self.hold is not None:
            self.hold.set()  # no handler left waiting
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def _received(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.calls[method] += 1
        self.received_metadata.append(
            {item.key: item.value for item in context.invocation_metadata() or () if isinstance(item.value, str)}
        )

    def _stream_handler(self, method: str, response_class: type[Message]) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            self._received(method, context)
            self.active_streams += 1
            try:
                if self.fail_with is not None:
                    await context.abort(self.fail_with, f"{self.name} fails on purpose")
                async for message in self.stream(method, request, response_class, context):
                    yield message
            except asyncio.CancelledError:
                self.cancelled[method] += 1
                raise
            finally:
                self.active_streams -= 1

        return handle

    def _handler(self, method: str, response_class: type[Message]) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            self._received(method, context)
            try:
                if self.hold is not None:
                    await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled[method] += 1  # the caller gave up on the call (the server cancels its handler)
                raise
            if self.fail_with is not None:
                await context.abort(self.fail_with, f"{self.name} fails on purpose")
            return self.answer(method, request, response_class)

        return handle
