"""Who calls: the user of the JWT in the call's `authorization` metadata, verified by the service itself.

The gateway forwards the client's bearer token on every call. A service checks it with the gateway's
own rules (`trust.tokens`: the signature against the user-service's published keys, exp, iss, aud,
the claims' types) and takes the caller from `sub`; nothing else names the caller. A call that
reaches a service port directly (past the mutual TLS, which already needs a certificate of the
internal CA) therefore acts only as the user whose valid token it carries: forging an identity
needs the user-service's signing key. Verified tokens are cached until their exp, so a returning
token costs a dictionary lookup.

The verified caller is also what the call's log line shows (`services.common.interceptors`).
"""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import grpc

from services.common.config import ConfigError
from trust.jwks import JwksError
from trust.settings import TokenSettings
from trust.tokens import AuthError, JwtAuthenticator, single_authorization

AUTHORIZATION_METADATA = "authorization"
IDEMPOTENCY_KEY_METADATA = "idempotency-key"

# The caller verified during the current call (None: none yet); the call's interceptor resets it.
verified_caller: ContextVar[str | None] = ContextVar("verified_caller", default=None)


def metadata_value(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    """The first value of `key` in the call's metadata, or None."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else value
    return None


class Callers:
    """Verifies the bearer token of a call and names its user (see the module docstring)."""

    def __init__(self, settings: TokenSettings) -> None:
        self._settings = settings
        self._authenticator = JwtAuthenticator(settings)

    async def start(self) -> None:
        """Load the verification keys; ConfigError naming the source when it gives no usable key."""
        try:
            await self._authenticator.start()
        except JwksError as exc:
            raise ConfigError(f"no usable JWT verification keys ({self._settings.ENV_PREFIX}JWKS_*): {exc}") from None

    async def close(self) -> None:
        await self._authenticator.close()

    async def require(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """The calling user's id; aborts the call with UNAUTHENTICATED unless it carries one valid bearer token."""
        values = [value if isinstance(value, str) else value.decode(errors="replace")
                  for name, value in context.invocation_metadata() or () if name == AUTHORIZATION_METADATA]
        try:
            principal = await self._authenticator.authenticate(single_authorization(values))
        except AuthError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
            raise AssertionError("unreachable: abort raises") from None
        verified_caller.set(principal.subject)
        return principal.subject
