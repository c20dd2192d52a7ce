"""create_app(settings): assembles routes, middleware and lifespan — nothing else.

The route table, the per-route plans and the OpenAPI document are built here,
once, from the compiled contracts; a bad contract stops start-up with a clear
message. Channels and the key set are opened in the lifespan.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from .boundary import ErrorBoundary
from .cors import CorsMiddleware
from .errors import GatewayError, error_response, grpc_code_for_http_status
from .observability.request_id import RequestIdMiddleware
from .pipeline import Pipeline
from .policy.auth import JwtAuthenticator
from .policy.jwks import JwksError
from .routes.openapi import add_contract_routes
from .routes.router import Router
from .routes.table import import_contracts, load_routes
from .settings import Settings
from .transcode.plan import build_plan
from .upstream.pool import UpstreamPool

log = logging.getLogger(__name__)

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(settings: Settings) -> FastAPI:
    import_contracts(settings.contracts.modules)
    routes = load_routes(settings.upstreams)
    plans = {route: build_plan(route) for route in routes}
    pools = {name: UpstreamPool(name, upstream) for name, upstream in settings.upstreams.items()}
    authenticator = JwtAuthenticator(settings.auth)
    pipeline = Pipeline(Router(routes), plans, pools, authenticator, settings.http.max_body_bytes)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                await authenticator.start()
            except JwksError as exc:
                log.error("cannot start: no usable JWT keys: %s", exc)
                raise
            stack.push_async_callback(authenticator.close)
            for pool in pools.values():
                await pool.start()
                stack.push_async_callback(pool.close)
            yield

    app = FastAPI(
        title="Postcard API gateway",
        version="1.0.0",
        description="REST/JSON entry point of the AI postcard mini-program; routes come from the .proto contracts.",
        lifespan=lifespan,
        middleware=[
            # Request id outermost, so that even the boundary's 500 carries X-Request-ID.
            Middleware(RequestIdMiddleware),
            Middleware(ErrorBoundary),
            Middleware(
                CorsMiddleware,
                allow_origins=settings.http.cors_origins,
                allow_methods=ALL_METHODS,
                allow_headers=["authorization", "content-type", "idempotency-key", "x-request-id"],
                expose_headers=["x-request-id", "retry-after"],
            ),
        ],
    )
    app.state.settings = settings
    app.state.pipeline = pipeline
    _install_error_handlers(app)
    # Contract routes are matched by our own router (literal segments beat variables, exact 405s).
    # As the default of FastAPI's router it sees only requests no hand-written route claims, so
    # those keep their own 405s.
    app.router.default = pipeline.asgi
    _install_openapi(app, routes, settings.http.max_body_bytes)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = grpc_code_for_http_status(exc.status_code)
        message = exc.detail if isinstance(exc.detail, str) else code.name.lower()
        return error_response(GatewayError(code, message, http_status=exc.status_code, headers=exc.headers))

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(GatewayError(grpc_code_for_http_status(400), f"{where}: {first.get('msg', 'invalid')}"))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _install_openapi(app: FastAPI, routes: list[Any], max_body_bytes: int) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = add_contract_routes(document, routes, max_body_bytes=max_body_bytes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
