"""The upstream layer as the rest of the gateway sees it: `await upstream.call(rpc, request, context)`,
and for a server-streaming method `await upstream.open_stream(rpc, request, context)` (`stream.py`).

One `ServicePool` per configured service. A method whose contract declares
FALLBACK_CACHED_OR_EMPTY remembers its good answers and, when the pool fails
with a backend fault, answers from `FallbackCache` instead. Contract routes and
hand-written handlers call this same object with an RPC handle, so both get the
same picking, breakers, deadlines, retries, fallbacks and metadata.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import grpc
from google.protobuf.message import Message

from ..errors import GatewayError
from ..policy.fallback import FallbackCache, falls_back
from ..settings import FallbackSettings, UpstreamSettings
from .call import NO_OBSERVER, NO_TRACER, CallContext, CallObserver, CallTracer, Reply
from .pool import ServicePool
from .rpc import Rpc
from .stream import UpstreamStream


class Upstream:
    def __init__(
        self,
        services: Mapping[str, UpstreamSettings],
        fallback: FallbackSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        observer: CallObserver = NO_OBSERVER,
        tracer: CallTracer = NO_TRACER,
        stream_max_seconds: float = 300.0,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.stream_max_seconds = stream_max_seconds  # a stream's deadline when its contract sets no timeout
        self.pools = {
            name: ServicePool(name, settings, clock=clock, observer=observer, tracer=tracer, credentials=credentials)
            for name, settings in services.items()
        }
        self.fallbacks = FallbackCache(fallback, clock)

    async def start(self, first_report_timeout: float) -> None:
        """Open every pool, then wait (at most `first_report_timeout` s) for each endpoint's first health report."""
        for pool in self.pools.values():
            await pool.start()
        try:
            async with asyncio.timeout(first_report_timeout):
                await asyncio.gather(*(pool.wait_reported() for pool in self.pools.values()))
        except TimeoutError:
            pass  # an endpoint that does not answer yet stays out of rotation until it does

    async def close(self) -> None:
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))

    async def call(self, rpc: Rpc, request: Message, context: CallContext) -> Reply:
        """The response of `rpc`, or its contract fallback; GatewayError when neither is possible."""
        pool = self.pools[rpc.service]
        if not rpc.policy.fallback_cached_or_empty:
            return await pool.call(rpc, request, context)
        try:
            reply = await pool.call(rpc, request, context)
        except GatewayError as error:
            if not falls_back(error):
                raise
            message, source = self.fallbacks.answer(rpc, request, context.user_id)
            return Reply(message, [], None, fallback=source, fallback_cause=error.code.name)
        self.fallbacks.remember(rpc, request, context.user_id, reply.message)
        return reply

    async def open_stream(self, rpc: Rpc, request: Message, context: CallContext) -> UpstreamStream:
        """The server-streaming `rpc`, open and past its first message; GatewayError before it (no fallback)."""
        return await self.pools[rpc.service].open_stream(rpc, request, context, self.stream_max_seconds)
