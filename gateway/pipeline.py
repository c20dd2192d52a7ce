"""A request's way through the gateway, one named stage after another.

    route -> authenticate -> limit -> transcode in -> call upstream -> render

`call upstream` is the upstream layer (`upstream/client.py`): pick a healthy
endpoint, its breaker, the deadline, retries where safe, and the contract's
fallback. Any stage may raise GatewayError; it leaves through
errors.error_response with the common error shape. Everything a stage needs
per route was computed at start-up (`PreparedRoute`); the stages only do
per-request work.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import GatewayError, error_response
from .lifecycle import Lifecycle
from .policy.auth import AuthError, JwtAuthenticator, Principal, single_authorization
from .policy.client_address import ClientAddress
from .policy.ratelimit import RateLimits, RouteLimits
from .routes.router import PathValues, Router
from .routes.table import Route
from .transcode import request as transcode_in
from .transcode.context import call_context
from .transcode.plan import RoutePlan
from .transcode.response import render
from .upstream.call import CallContext, Reply
from .upstream.client import Upstream


@dataclass(frozen=True, slots=True)
class PreparedRoute:
    """Everything per route that the stages need, computed once at start-up."""

    route: Route
    plan: RoutePlan
    limits: RouteLimits


class Pipeline:
    def __init__(
        self,
        router: Router,
        prepared: Mapping[Route, PreparedRoute],
        upstream: Upstream,
        authenticator: JwtAuthenticator,
        limits: RateLimits,
        client_address: ClientAddress,
        lifecycle: Lifecycle,
        max_body_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.prepared = prepared
        self.upstream = upstream
        self.authenticator = authenticator
        self.limits = limits
        self.client_address = client_address
        self.lifecycle = lifecycle
        self.max_body_bytes = max_body_bytes
        self.clock = clock

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        response = await self.handle(Request(scope, receive))
        if self.lifecycle.draining:
            response.headers["connection"] = "close"  # reconnect to a replica that is not going away
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        try:
            prepared, path_values = self.route(request)
            principal = await self.authenticate(prepared, request)
            await self.limit(prepared, request, principal)
            message, context = await self.transcode_in(prepared, request, path_values, principal)
            reply = await self.call_upstream(prepared, message, context)
            return render(prepared.plan, reply)
        except GatewayError as error:
            return error_response(error)

    def route(self, request: Request) -> tuple[PreparedRoute, PathValues]:
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        route, values = self.router.match(request.method, raw_path.decode("latin-1"))
        return self.prepared[route], values

    async def authenticate(self, prepared: PreparedRoute, request: Request) -> Principal | None:
        if prepared.route.policy.public:
            return None

        async def failures_left() -> None:  # only for tokens not already verified
            await self.limits.check_auth_failures(self.client_address.of(request.scope))

        try:
            header = single_authorization(request.headers.getlist("authorization"))
            return await self.authenticator.authenticate(header, failures_left)
        except AuthError as exc:
            if exc.counts_as_failure:
                await self.limits.record_auth_failure(self.client_address.of(request.scope))
            raise GatewayError(exc.code, exc.message, headers={"WWW-Authenticate": exc.www_authenticate}) from None

    async def limit(self, prepared: PreparedRoute, request: Request, principal: Principal | None) -> None:
        if self.limits.enabled:
            caller = f"user:{principal.subject}" if principal else f"ip:{self.client_address.of(request.scope)}"
            await self.limits.check(prepared.limits, caller)

    async def transcode_in(
        self, prepared: PreparedRoute, request: Request, path_values: PathValues, principal: Principal | None
    ) -> tuple[Message, CallContext]:
        plan = prepared.plan
        context = call_context(request.headers, principal, self.clock())
        body = None
        if plan.body:
            length = _content_length(request)
            raw = await transcode_in.read_body(request.stream(), length, self.max_body_bytes)
            # After the (bounded) read, so a chunked body, which declares no length, is checked too.
            transcode_in.check_content_type(request.headers.get("content-type"), len(raw))
            body = transcode_in.parse_json(raw)
        return transcode_in.build_request(plan, path_values, request.query_params.multi_items(), body), context

    async def call_upstream(self, prepared: PreparedRoute, message: Message, context: CallContext) -> Reply:
        return await self.upstream.call(prepared.route.rpc, message, context)


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
