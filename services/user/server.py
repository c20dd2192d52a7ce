"""Assembles the user-service: configuration checks, keys, JWKS, database, WeChat, gRPC server.

``create_server(settings)`` does everything that can fail before a port is served, so a bad
configuration stops the process at start with a ConfigError instead of failing the first login.
"""
from __future__ import annotations

import asyncio
import json
import logging
from contextlib import AsyncExitStack

import grpc
from opentelemetry.sdk.trace import TracerProvider

from contractrules.violations import RequestRules
from postcardapp.user.v1 import user_service_pb2 as pb
from postcardapp.user.v1 import user_service_pb2_grpc as pb_grpc
from services.common.identity import Callers
from services.common.observability import Observability
from services.common.server import (
    COMMON_SERVER_OPTIONS,
    ServiceServer,
    add_standard_services,
    bind,
    internal_tls,
)
from services.common.validation import ValidateRequests
from services.user.jwks_http import JwksEndpoint
from services.user.keys import jwks_document, load_signing_key, publish_jwks
from services.user.schema import open_database
from services.user.servicer import UserServicer
from services.user.settings import ENV_PREFIX, UserServiceSettings, env_name, require_complete
from services.user.store import UserStore
from services.user.tokens import TokenIssuer
from services.user.wechat import create_wechat_login
from trust.settings import TokenSettings

log = logging.getLogger(__name__)

# The name health checks and reflection use: "postcardapp.user.v1.UserService".
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["UserService"].full_name

SERVER_OPTIONS = [
    *COMMON_SERVER_OPTIONS,
    # Requests here are a login code or nothing: refuse anything larger early.
    ("grpc.max_receive_message_length", 64 * 1024),
]


async def create_server(
    settings: UserServiceSettings, *, tracer_provider: TracerProvider | None = None
) -> tuple[ServiceServer, int]:
    """A bound, not yet started server and its port (``settings.port`` 0 picks a free one).

    Checks the configuration, loads (or, in development, generates) the signing key, writes the
    JWKS file, creates the database, opens the WeChat client and, with ``settings.metrics_port``,
    serves the metrics. ``tracer_provider`` turns server spans on (the server owns it from here).
    Raises ConfigError on bad configuration and OSError when a port cannot be bound; whatever was
    opened is closed again on failure. ``stop`` closes the WeChat client after in-flight calls
    finish, then the metrics port and the provider.
    """
    require_complete(settings)
    tls = internal_tls(settings.tls, ENV_PREFIX)
    signing_key = load_signing_key(settings)
    publish_jwks(settings, signing_key)
    jwks = json.dumps(jwks_document(settings, signing_key)).encode()
    tokens = TokenIssuer(signing_key, settings.jwt)
    db = await asyncio.to_thread(open_database, settings.resolved_db_path)
    observability = Observability(tracer_provider)

    # GetMe's caller: a token this service signed, checked against the keys it publishes.
    callers = Callers(TokenSettings(jwks_path=settings.resolved_jwks_path, issuer=settings.jwt.issuer,
                                    audience=settings.jwt.audience))

    async with AsyncExitStack() as undo:  # closes what was opened if a later step fails
        await callers.start()
        undo.push_async_callback(callers.close)
        wechat = create_wechat_login(settings.wechat)
        undo.push_async_callback(wechat.aclose)
        interceptors = [*observability.server_interceptors(), ValidateRequests(RequestRules(), [SERVICE_NAME])]
        grpc_server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=interceptors)
        undo.push_async_callback(grpc_server.stop, None)

        pb_grpc.add_UserServiceServicer_to_server(UserServicer(wechat, UserStore(db), tokens, callers), grpc_server)  # type: ignore[no-untyped-call]  # generated, no stub
        health = add_standard_services(grpc_server, [SERVICE_NAME])
        port = bind(grpc_server, settings.host, settings.port, tls)
        await observability.serve_metrics(settings.host, settings.metrics_port, env_name("metrics_port"))
        jwks_endpoint = None
        if settings.jwks_port is not None:
            jwks_endpoint = await JwksEndpoint.start(jwks, settings.host, settings.jwks_port, env_name("jwks_port"),
                                                     tls.ssl_server_context() if tls is not None else None)
            undo.push_async_callback(jwks_endpoint.close)
        undo.pop_all()  # all went well: from here on the server owns them

    server = ServiceServer(
        grpc_server, health, [SERVICE_NAME], drain_seconds=settings.drain_seconds, observability=observability
    )
    server.on_stop(wechat.aclose)
    server.on_stop(callers.close)
    if jwks_endpoint is not None:
        server.on_stop(jwks_endpoint.close)
        server.http_ports["jwks"] = jwks_endpoint.port
    await server.serve_health_port(settings.host, settings.health_port, env_name("health_port"))
    log.info("user-service configured", extra={"db_path": str(settings.resolved_db_path), "kid": tokens.kid})
    return server, port
