"""create_app(settings): assembles the pipeline, the FastAPI app, middleware and lifespan — nothing else.

The route table, the per-route plans and the OpenAPI document are built here,
once, from the compiled contracts; a bad contract stops start-up with a clear
message. The key set and the upstream pools (channels, health watchers) are
opened in the lifespan, which waits briefly for the endpoints' first health
reports before the gateway reports ready. The result is the `FrontDoor`:
contract routes go to the pipeline, the rest to FastAPI.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from opentelemetry.sdk.trace import TracerProvider
from starlette.middleware import Middleware

from contractrules.violations import RequestRules
from trust.jwks import JwksError
from trust.tokens import JwtAuthenticator

from .aggregate import ROUTE_NAMES, ROUTE_NAMESPACE, install_aggregates
from .aggregate.composed import Composer
from .boundary import ErrorBoundary
from .cors import CorsMiddleware
from .docs import install_docs
from .errors import install_error_handlers
from .front_door import FrontDoor
from .health import HealthReport, install_health
from .lifecycle import Lifecycle
from .observability.access import ObserveMiddleware, access_lines
from .observability.metrics import GatewayMetrics, install_metrics
from .observability.request_id import RequestIdMiddleware
from .observability.tracing import Tracing
from .openapi.document import add_contract_routes
from .pipeline import Pipeline, PreparedRoute
from .policy.client_address import ClientAddress
from .policy.guard import Guard
from .policy.ratelimit import RateLimits
from .routes.router import Router
from .routes.table import RouteTableError, import_contracts, load_routes, rpc_catalog
from .settings import Settings
from .streaming.admission import StreamSlots
from .transcode.plan import RoutePlan, build_plan
from .upstream.client import Upstream

log = logging.getLogger(__name__)

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(settings: Settings, *, tracer_provider: TracerProvider | None = None) -> FrontDoor:
    """The gateway as an ASGI app; `tracer_provider` turns tracing on (see observability/tracing.py)."""
    import_contracts(settings.contracts.modules)
    catalog = rpc_catalog(settings.upstreams)
    routes = load_routes(catalog)
    limits = RateLimits(settings.rate_limit)
    # A method of a configured service that does not exist, or a "gateway." name no hand-written route has, is a
    # typo; other services may simply not be served here.
    unknown = {name for name in limits.configured_methods()
               if name.rpartition(".")[0] in {*settings.upstreams, ROUTE_NAMESPACE}
               and name not in catalog and name not in ROUTE_NAMES}
    if unknown:
        raise RouteTableError(
            f"GATEWAY_RATE_LIMIT__ROUTES names methods not in the contracts nor hand-written routes: {sorted(unknown)}"
        )
    rules = RequestRules()  # one validator: protovalidate compiles each message's rules once, here
    rules.prepare(route.rpc.request_class for route in routes)
    prepared = {
        route: PreparedRoute(
            route, build_plan(route), limits.for_method(route.name), route.template.openapi_path(), rules
        )
        for route in routes
    }
    metrics = GatewayMetrics()
    tracing = Tracing(tracer_provider)
    tls = settings.upstream_tls.load()  # TlsError naming a missing or mismatched file
    upstream = Upstream(
        settings.upstreams, settings.fallback, observer=metrics, tracer=tracing,
        stream_max_seconds=settings.streams.max_duration_seconds,
        credentials=tls.channel_credentials() if tls is not None else None,
    )
    authenticator = JwtAuthenticator(settings.auth)
    lifecycle = Lifecycle()
    cors_options: dict[str, Any] = {
        "allow_origins": settings.http.cors_origins,
        "allow_methods": ALL_METHODS,
        "allow_headers": ["authorization", "content-type", "idempotency-key", "x-request-id", "grpc-timeout"],
        "expose_headers": ["x-request-id", "retry-after", "x-fallback", "ratelimit-limit", "ratelimit-remaining",
                           "ratelimit-reset"],
    }
    guard = Guard(authenticator, limits, ClientAddress(settings.rate_limit.trusted_proxies), metrics)
    pipeline = Pipeline(
        Router(routes),
        prepared,
        upstream,
        guard,
        lifecycle,
        metrics,
        tracing,
        CorsMiddleware(None, **cors_options) if settings.http.cors_origins else None,  # type: ignore[arg-type]
        settings.http.max_body_bytes,
        StreamSlots(settings.streams.max_per_caller, settings.max_open_streams, metrics),
        settings.streams,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                await authenticator.start()
            except JwksError as exc:
                log.error("cannot start: no usable JWT keys: %s", exc)
                raise
            stack.push_async_callback(authenticator.close)
            stack.push_async_callback(limits.close)
            await upstream.start(settings.startup_wait_seconds)
            stack.push_async_callback(upstream.close)
            stack.callback(tracing.shutdown)  # flush spans last
            stack.callback(lifecycle.stopped)
            stack.callback(access_lines.flush)  # the last requests' lines before "gateway stopped"
            lifecycle.ready()
            yield

    app = FastAPI(
        title="Postcard API gateway",
        version="1.0.0",
        description="REST/JSON entry point of the AI postcard mini-program; routes come from the .proto contracts.",
        lifespan=lifespan,
        docs_url=None,  # served offline by install_docs
        redoc_url=None,
        # For the routes FastAPI serves; contract routes do the same as pipeline stages.
        middleware=[
            # Request id outermost, so that even the boundary's 500 carries X-Request-ID.
            Middleware(RequestIdMiddleware),
            Middleware(ObserveMiddleware, metrics=metrics, tracing=tracing),  # and the server span
            Middleware(ErrorBoundary),
            Middleware(CorsMiddleware, **cors_options),
        ],
    )
    # Read by the server runner (drain on SIGTERM; the HTTP server's shedding counted) and tests.
    app.state.lifecycle = lifecycle
    app.state.upstream = upstream
    app.state.metrics = metrics
    install_error_handlers(app)
    install_docs(app)
    install_health(app, HealthReport(upstream, settings.upstreams, lifecycle))
    install_metrics(app, metrics)
    install_aggregates(app, Composer(upstream, catalog, guard, limits))
    # A request no contract route and no FastAPI route serves: the pipeline's 404, or 405 with Allow.
    app.router.default = pipeline.unmatched
    _install_openapi(app, [entry.plan for entry in prepared.values()], settings.http.max_body_bytes)
    return FrontDoor(pipeline, app)


def _install_openapi(app: FastAPI, plans: list[RoutePlan], max_body_bytes: int) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = add_contract_routes(document, plans, max_body_bytes=max_body_bytes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
