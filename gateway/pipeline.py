"""A request's way through the gateway, one named stage after another.

    route -> authenticate -> transcode in -> call upstream -> transcode out

Any stage may raise GatewayError; it leaves through errors.error_response with
the common error shape. Everything a stage needs per route was computed at
start-up (RoutePlan); the stages only do per-request work.
"""
from __future__ import annotations

from collections.abc import Mapping

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import GatewayError, error_response
from .policy.auth import AuthError, JwtAuthenticator, Principal, single_authorization
from .routes.router import PathValues, Router
from .routes.table import Route
from .transcode import request as transcode_in
from .transcode.headers import USER_ID_METADATA, request_metadata, response_headers
from .transcode.plan import RoutePlan
from .transcode.response import render
from .upstream.pool import Metadata, UpstreamPool


class Pipeline:
    def __init__(
        self,
        router: Router,
        plans: Mapping[Route, RoutePlan],
        pools: Mapping[str, UpstreamPool],
        authenticator: JwtAuthenticator,
        max_body_bytes: int,
    ) -> None:
        self.router = router
        self.plans = plans
        self.pools = pools
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        try:
            plan, path_values = self.route(request)
            principal = await self.authenticate(plan, request)
            message = await self.transcode_in(plan, request, path_values)
            response, response_metadata = await self.call_upstream(plan, request, message, principal)
            return render(plan, response, response_headers(response_metadata))
        except GatewayError as error:
            return error_response(error)

    def route(self, request: Request) -> tuple[RoutePlan, PathValues]:
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        route, values = self.router.match(request.method, raw_path.decode("latin-1"))
        return self.plans[route], values

    async def authenticate(self, plan: RoutePlan, request: Request) -> Principal | None:
        if plan.route.policy.public:
            return None
        try:
            return await self.authenticator.authenticate(single_authorization(request.headers.getlist("authorization")))
        except AuthError as exc:
            raise GatewayError(exc.code, exc.message, headers={"WWW-Authenticate": exc.www_authenticate}) from None

    async def transcode_in(self, plan: RoutePlan, request: Request, path_values: PathValues) -> object:
        body = None
        if plan.body:
            length = _content_length(request)
            raw = await transcode_in.read_body(request.stream(), length, self.max_body_bytes)
            # After the (bounded) read, so a chunked body, which declares no length, is checked too.
            transcode_in.check_content_type(request.headers.get("content-type"), len(raw))
            body = transcode_in.parse_json(raw)
        return transcode_in.build_request(plan, path_values, request.query_params.multi_items(), body)

    async def call_upstream(
        self, plan: RoutePlan, request: Request, message: object, principal: Principal | None
    ) -> tuple[object, Metadata]:
        metadata: Metadata = list(request_metadata(request.headers.items()))
        if principal is not None:
            metadata.append((USER_ID_METADATA, principal.subject))
        pool = self.pools[plan.route.service]
        return await pool.call(plan, message, metadata, plan.route.policy.timeout_seconds)  # type: ignore[arg-type]


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
