"""A contract route's way through the gateway, one named stage after another.

    request id -> trace -> authenticate -> limit -> transcode in -> validate -> call upstream
               -> render -> respond (CORS, request id, drain) -> observe (metrics, access line)

A server-streaming route differs after `transcode in`: `open stream` (caps on
open streams, the upstream call up to its first message) instead of `call
upstream` and `render`, then its respond stage sends one event per message
until the stream ends (`streaming/response.py`); an error before the first
message is an ordinary error response.

Contract routes take this path straight from the front door (`front_door.py`):
no FastAPI middleware wraps them, every policy is a plain stage here. `call
upstream` is the upstream layer (`upstream/client.py`): a healthy endpoint, its
breaker, the deadline, retries where safe, the contract's fallback. `validate`
checks the request message against its contract's rules (`contractrules`, the
same check the services make) so that a request that can only fail is a 400
without an upstream call. Any stage
may raise GatewayError, which becomes the common error shape
(`errors.error_response`); anything else is logged with its traceback and
answered with the opaque 500. Everything a stage needs per route was computed
at start-up (`PreparedRoute`); the stages only do per-request work.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from contractrules.violations import RequestRules
from trust.tokens import Principal

from .cors import CorsMiddleware
from .errors import GatewayError, broken_rules, error_response, internal_error_response
from .lifecycle import Lifecycle
from .observability.access import Exchange, observe
from .observability.metrics import GatewayMetrics
from .observability.request_id import HEADER as REQUEST_ID
from .observability.request_id import accept_request_id, bind_request_id, unbind_request_id
from .observability.tracing import Tracing, finish_span
from .policy.guard import Guard
from .policy.ratelimit import RouteLimits
from .routes.router import PathValues, Router
from .routes.table import Route
from .settings import StreamSettings
from .streaming.admission import StreamSlots
from .streaming.framing import negotiate
from .streaming.response import ServerStream
from .transcode import request as transcode_in
from .transcode.context import call_context
from .transcode.plan import RoutePlan
from .transcode.response import render
from .upstream.call import CallContext, Reply
from .upstream.client import Upstream

log = logging.getLogger(__name__)
_ORIGIN = b"origin"
_CLOSE = (b"connection", b"close")


@dataclass(frozen=True, slots=True)
class PreparedRoute:
    """Everything per route that the stages need, computed once at start-up."""

    route: Route
    plan: RoutePlan
    limits: RouteLimits
    label: str  # the route template, for spans, metrics and the access line
    rules: RequestRules  # the contract's rules of the request message (one validator, shared by every route)


class Pipeline:
    def __init__(
        self,
        router: Router,
        prepared: Mapping[Route, PreparedRoute],
        upstream: Upstream,
        guard: Guard,
        lifecycle: Lifecycle,
        metrics: GatewayMetrics,
        tracing: Tracing,
        cors: CorsMiddleware | None,
        max_body_bytes: int,
        streams: StreamSlots,
        stream_settings: StreamSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.prepared = prepared
        self.upstream = upstream
        self.guard = guard
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.tracing = tracing
        self.cors = cors
        self.max_body_bytes = max_body_bytes
        self.streams = streams
        self.stream_settings = stream_settings
        self.clock = clock

    def claim(self, scope: Scope) -> tuple[PreparedRoute, PathValues] | None:
        """The contract route of an HTTP request, or None: then FastAPI answers it (or `unmatched` does)."""
        try:
            route, values = self.router.match(scope["method"], _raw_path(scope))
        except GatewayError:
            return None
        return self.prepared[route], values

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, prepared: PreparedRoute, path_values: PathValues
    ) -> None:
        """Answer one request of a contract route."""
        started = time.perf_counter()
        request_id = accept_request_id(scope)
        bound = bind_request_id(request_id)
        exchange = Exchange(scope["method"], prepared.label)
        with self.tracing.server_span(scope, prepared.label) as span:
            try:
                response = await self.answer(Request(scope, receive), prepared, path_values, request_id, exchange)
                exchange.status = response.status_code
                finish_span(span, exchange.status)
                if isinstance(response, ServerStream):
                    await response.send(scope, receive, self.sender(scope, send, request_id))
                else:
                    await self.respond(scope, send, response, request_id)
            finally:
                observe(self.metrics, exchange, time.perf_counter() - started)  # in the span: its trace id
                unbind_request_id(bound)

    async def answer(
        self, request: Request, prepared: PreparedRoute, path_values: PathValues, request_id: str, exchange: Exchange
    ) -> Response | ServerStream:
        try:
            principal = await self.authenticate(prepared, request, exchange)
            await self.limit(prepared, request, principal)
            message, context = await self.transcode_in(prepared, request, path_values, principal, request_id)
            self.validate(prepared, message)
            if prepared.route.server_streaming:
                return await self.open_stream(prepared, request, principal, message, context, exchange)
            reply = await self.call_upstream(prepared, message, context, exchange)
            return render(prepared.plan, reply, request.scope)
        except GatewayError as error:
            exchange.grpc_code = exchange.grpc_code or error.code.name
            return error_response(error)
        except Exception:
            log.exception("unhandled error", extra={"method": request.method, "route": prepared.label})
            return internal_error_response()

    async def authenticate(self, prepared: PreparedRoute, request: Request, exchange: Exchange) -> Principal | None:
        principal = await self.guard.authenticate(request, public=prepared.route.policy.public, route=prepared.label)
        exchange.user_id = principal.subject if principal is not None else None
        return principal

    async def limit(self, prepared: PreparedRoute, request: Request, principal: Principal | None) -> None:
        await self.guard.limit(request, principal, prepared.limits, route=prepared.label)

    async def transcode_in(
        self,
        prepared: PreparedRoute,
        request: Request,
        path_values: PathValues,
        principal: Principal | None,
        request_id: str,
    ) -> tuple[Message, CallContext]:
        plan = prepared.plan
        context = call_context(request.scope["headers"], principal, request_id, self.clock())
        body = None
        if plan.body:
            length = _content_length(request)
            raw = await transcode_in.read_body(request.stream(), length, self.max_body_bytes)
            # After the (bounded) read, so a chunked body, which declares no length, is checked too.
            transcode_in.check_content_type(request.headers.get("content-type"), len(raw))
            body = transcode_in.parse_json(raw)
        query = request.query_params.multi_items() if request.scope["query_string"] else ()  # most have none
        return transcode_in.build_request(plan, path_values, query, body), context

    def validate(self, prepared: PreparedRoute, message: Message) -> None:
        violations = prepared.rules.check(message)
        if violations is not None:
            raise broken_rules(violations)

    async def call_upstream(
        self, prepared: PreparedRoute, message: Message, context: CallContext, exchange: Exchange
    ) -> Reply:
        try:
            reply = await self.upstream.call(prepared.route.rpc, message, context)
        except GatewayError as error:
            exchange.grpc_code = error.code.name
            raise
        exchange.endpoint, exchange.fallback = reply.endpoint, reply.fallback
        exchange.grpc_code = "OK" if reply.fallback is None else None
        return reply

    async def open_stream(
        self,
        prepared: PreparedRoute,
        request: Request,
        principal: Principal | None,
        message: Message,
        context: CallContext,
        exchange: Exchange,
    ) -> ServerStream:
        """A slot under the caps on open streams (429 / 503), then the upstream stream up to its first message."""
        framing = negotiate(request.headers.get("accept"), self.stream_settings.retry_milliseconds)
        slot = self.streams.admit(self.guard.caller(request, principal), prepared.label)
        try:
            upstream = await self.upstream.open_stream(prepared.route.rpc, message, context)
        except GatewayError as error:
            slot.release()
            exchange.grpc_code = error.code.name
            raise
        except BaseException:
            slot.release()
            raise
        exchange.endpoint = upstream.endpoint
        return ServerStream(prepared.plan, upstream, framing, slot, self.stream_settings, exchange)

    async def respond(self, scope: Scope, send: Send, response: Response, request_id: str) -> None:
        """Send the response with the request id, CORS headers for an allowed origin, and the drain's close."""
        await self.start(scope, send, response.status_code, response.raw_headers, request_id)
        await send({"type": "http.response.body", "body": response.body})

    async def start(
        self, scope: Scope, send: Send, status: int, raw_headers: list[tuple[bytes, bytes]], request_id: str
    ) -> None:
        headers = [*raw_headers, (REQUEST_ID, request_id.encode())]
        if self.lifecycle.draining:
            headers.append(_CLOSE)  # reconnect to a replica that is not going away
        start = {"type": "http.response.start", "status": status, "headers": headers}
        if self.cors is not None and any(name == _ORIGIN for name, _ in scope["headers"]):
            await self.cors.send(start, send, Headers(scope=scope))  # Starlette's own rule for simple requests
        else:
            await send(start)

    def sender(self, scope: Scope, send: Send, request_id: str) -> Send:
        """`send` for a streamed answer: its start gets the headers `respond` adds."""

        async def send_streamed(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await self.start(scope, send, message["status"], list(message["headers"]), request_id)
            else:
                await send(message)

        return send_streamed

    async def unmatched(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's default route: a path no route serves (404) or serves under other methods (405 with Allow)."""
        try:
            self.router.match(scope["method"], _raw_path(scope))
            response = error_response(GatewayError(grpc.StatusCode.NOT_FOUND, "no route for this path"))
        except GatewayError as error:
            response = error_response(error)
        await response(scope, receive, send)


def _raw_path(scope: Scope) -> str:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    return raw_path.decode("latin-1")


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, "bad Content-Length header") from None
    if length < 0:
        raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, "bad Content-Length header")
    return length
