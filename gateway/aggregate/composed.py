"""What every hand-written composed endpoint shares with contract routes, from the same code.

    composer = Composer(upstream, catalog, guard, limits)
    caller = composer.caller("gateway.Home", "/api/v1/home", query={"limit"})   # a FastAPI dependency

    @composer.get(app, "/api/v1/home", GET_ME, LIST_MINE, response_model=Home, ...)
    async def home(context: Annotated[CallContext, Depends(caller)], limit: ... = 5) -> Response:
        parts = await fan_out(composer.upstream, context, {...})
        return composer.render(Home(...))

The stages are the pipeline's, under the same names: authenticate and limit
(`policy.guard.Guard`: one JWT rule, one failed-auth limit, one rate-limit rule,
the same metrics), transcode in (`transcode.context.call_context`: allow-listed
metadata, identity, request id, grpc-timeout; an unknown query parameter is a
400 as on contract routes), call upstream (`fanout.fan_out`), render (proto3
JSON, `Cache-Control: no-store`). Request id, access line, metrics, error
boundary and CORS come from the FastAPI app's middleware; a GatewayError
becomes the common error shape there.

FastAPI solves a dependency before it checks the endpoint's own query
parameters, so a missing token is a 401 and a rate-limited caller a 429 before
a bad value is a 400, in the pipeline's order.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ..observability.access import noted_exchange
from ..observability.request_id import current_request_id
from ..policy.guard import Guard
from ..policy.ratelimit import RateLimits
from ..transcode.context import call_context
from ..transcode.request import unknown_query_parameter
from ..transcode.response import cache_headers, json_response
from ..upstream.call import CallContext
from ..upstream.client import Upstream
from ..upstream.rpc import RpcCatalog

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])
# Names in the contract routes' OpenAPI components (referenced by name: that document defines them).
BEARER = "bearerAuth"
_RESPONSES = "#/components/responses/"
# status -> (response component, what it means on a composed route)
_ERRORS = {
    "400": ("BadRequest", "A bad query parameter: the message names it and the rule."),
    "401": ("Unauthorized", "Missing, malformed, expired or otherwise invalid bearer token (UNAUTHENTICATED)."),
    "404": ("NotFound", "A part's service does not know the caller (NOT_FOUND): a client's error is the answer."),
    "429": ("TooManyRequests", "Rate limit of this caller and route exceeded, or too many failed "
            "authentications from this address."),
    "431": ("RequestHeaderFieldsTooLarge", "The headers forwarded to the services are larger together than their "
            "metadata budget, or the request's headers larger than the gateway accepts."),
    "500": ("InternalServerError", "Unexpected failure; never carries a stack trace."),
    "503": ("ServiceUnavailable", "Every part of the answer failed (one failed part is `null`, or its fallback, "
            "in a 200 and named in `errors`)."),
    "default": ("Error", "Any other client's error of a part (PERMISSION_DENIED, INVALID_ARGUMENT, ...), with "
                "its HTTP status and gRPC status name."),
}


class Composer:
    def __init__(
        self,
        upstream: Upstream,
        catalog: RpcCatalog,
        guard: Guard,
        limits: RateLimits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream
        self.catalog = catalog
        self.guard = guard
        self.limits = limits
        self.clock = clock

    def serves(self, *methods: str) -> bool:
        """Whether every method is in the configured services (an endpoint needing others is not installed)."""
        return all(method in self.catalog for method in methods)

    def caller(
        self, name: str, label: str, *, query: Iterable[str] = ()
    ) -> Callable[[Request], Awaitable[CallContext]]:
        """A FastAPI dependency: authenticate -> limit -> the CallContext of the route's upstream calls.

        `name` is the route's key in GATEWAY_RATE_LIMIT__ROUTES, `label` its path template (metrics),
        `query` the query parameters it takes (any other is a 400).
        """
        limits = self.limits.for_method(name)
        known = frozenset(query)

        async def authenticated_caller(request: Request) -> CallContext:
            principal = await self.guard.authenticate(request, public=False, route=label)
            exchange = noted_exchange(request.scope)
            if exchange is not None and principal is not None:
                exchange.user_id = principal.subject  # the access line's user, as on contract routes
            await self.guard.limit(request, principal, limits, route=label)
            for key in request.query_params:
                if key not in known:
                    raise unknown_query_parameter(key)
            request_id = current_request_id()
            if request_id is None:  # RequestIdMiddleware binds it for every request FastAPI serves
                raise RuntimeError("no request id bound")
            return call_context(request.scope["headers"], principal, request_id, self.clock())

        return authenticated_caller

    def get(self, app: FastAPI, path: str, *methods: str, **route: Any) -> Callable[[Endpoint], Endpoint]:
        """Decorator: the endpoint answers GET `path` (and HEAD), documented with `route` (FastAPI's arguments),
        the bearer security, the common error responses and `x-grpc-methods` (the gRPC `methods` it calls).

        HEAD is answered as GET, without a body (the HTTP server drops it), as on every GET route of the gateway.
        FastAPI would document HEAD as a second operation, so the route that answers (GET and HEAD: a 405 lists
        both in Allow) stays out of the document, and a GET-only twin, never reached, is the one documented.
        """
        documented = {**route, **self._openapi(methods)}

        def add(endpoint: Endpoint) -> Endpoint:
            app.add_api_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
            app.add_api_route(path, endpoint, methods=["GET"], **documented)
            return endpoint

        return add

    def _openapi(self, methods: Iterable[str]) -> dict[str, Any]:
        # The responses refer to the contract document's components: the same error shape and headers.
        return {
            "responses": {status: {"$ref": _RESPONSES + component, "description": text}
                          for status, (component, text) in _ERRORS.items()},
            "openapi_extra": {
                "security": [{BEARER: []}],
                "x-grpc-methods": [self.catalog[method].path for method in methods],
            },
        }

    @staticmethod
    def render(answer: BaseModel) -> Response:
        """200 with the answer as JSON, under the caching rule of authenticated routes (no-store)."""
        return json_response(answer.model_dump(mode="json"), 200, cache_headers({}, public=False))
