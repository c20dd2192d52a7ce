"""Per-service upstream pools: one long-lived grpc.aio channel per endpoint.

`call` picks an endpoint, makes the unary call with a deadline and metadata,
and returns the response with its header and trailer metadata. gRPC failures
become GatewayErrors through errors.py. Picking is round-robin over the
endpoints; the multicallable of each (endpoint, method) is made once.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message

from ..errors import GatewayError, from_rpc_error
from ..settings import UpstreamSettings
from ..transcode.plan import RoutePlan

log = logging.getLogger(__name__)

_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]

Metadata = list[tuple[str, str | bytes]]


@dataclass
class Endpoint:
    target: str
    channel: grpc.aio.Channel
    _calls: dict[str, grpc.aio.UnaryUnaryMultiCallable] = field(default_factory=dict)

    def multicallable(self, plan: RoutePlan) -> grpc.aio.UnaryUnaryMultiCallable:
        path = plan.route.grpc_path
        call = self._calls.get(path)
        if call is None:
            call = self.channel.unary_unary(
                path,
                request_serializer=plan.request_class.SerializeToString,
                response_deserializer=plan.response_class.FromString,
            )
            self._calls[path] = call
        return call


class UpstreamPool:
    def __init__(self, service: str, settings: UpstreamSettings) -> None:
        self.service = service
        self.settings = settings
        self.endpoints: list[Endpoint] = []
        self._next: itertools.cycle[Endpoint] | None = None

    async def start(self) -> None:
        """Open one channel per endpoint (connections are made lazily by gRPC)."""
        self.endpoints = [
            Endpoint(target, grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS))
            for target in self.settings.endpoints
        ]
        self._next = itertools.cycle(self.endpoints)

    async def close(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.channel.close()
        self.endpoints = []
        self._next = None

    def pick(self) -> Endpoint:
        if self._next is None:
            raise GatewayError(grpc.StatusCode.UNAVAILABLE, f"{self.service} has no endpoints")
        return next(self._next)

    async def call(
        self, plan: RoutePlan, request: Message, metadata: Metadata, deadline_seconds: float | None
    ) -> tuple[Any, Metadata]:
        """Call the method of `plan` on one endpoint; returns (response, response metadata)."""
        endpoint = self.pick()
        call = endpoint.multicallable(plan)(
            request, metadata=metadata, timeout=deadline_seconds or self.settings.timeout_seconds
        )
        try:
            response = await call
            initial = await call.initial_metadata()
            trailing = await call.trailing_metadata()
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return response, [*(initial or ()), *(trailing or ())]
