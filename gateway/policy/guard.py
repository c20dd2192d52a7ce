"""Who may call a route, and how often: the same two stages for contract routes and hand-written ones.

    principal = await guard.authenticate(request, public=False, route=label)   # 401 / 400 / 429
    await guard.limit(request, principal, limits, route=label)                 # 429

The pipeline runs them for every contract route; a hand-written handler (an
aggregation endpoint) runs the very same ones, so both have one JWT rule, one
per-address limit on failed authentications, one rate-limit rule and the same
metrics. Failures are GatewayErrors in the common error shape.
"""
from __future__ import annotations

from starlette.requests import Request

from trust.tokens import AuthError, JwtAuthenticator, Principal, single_authorization

from ..errors import GatewayError
from ..observability.metrics import GatewayMetrics
from .client_address import ClientAddress
from .ratelimit import RateLimits, RouteLimits


class Guard:
    def __init__(
        self,
        authenticator: JwtAuthenticator,
        limits: RateLimits,
        client_address: ClientAddress,
        metrics: GatewayMetrics,
    ) -> None:
        self.authenticator = authenticator
        self.limits = limits
        self.client_address = client_address
        self.metrics = metrics

    async def authenticate(self, request: Request, *, public: bool, route: str) -> Principal | None:
        """The verified caller (None on a public route); GatewayError 401 (400 for ambiguous credentials)."""
        if public:
            return None

        async def failures_left() -> None:  # only for tokens not already verified
            try:
                await self.limits.check_auth_failures(self.client_address.of(request.scope))
            except GatewayError:
                self.metrics.rate_limited.labels(route, "auth_failures").inc()
                raise

        try:
            header = single_authorization(request.headers.getlist("authorization"))
            return await self.authenticator.authenticate(header, failures_left)
        except AuthError as exc:
            self.metrics.jwt_failures.labels(exc.reason).inc()
            if exc.counts_as_failure:
                await self.limits.record_auth_failure(self.client_address.of(request.scope))
            raise GatewayError(exc.code, exc.message, headers={"WWW-Authenticate": exc.www_authenticate}) from None

    async def limit(self, request: Request, principal: Principal | None, limits: RouteLimits, *, route: str) -> None:
        """Count the request against the route's limits for this caller (the user, else the address); 429."""
        if not self.limits.enabled:
            return
        try:
            await self.limits.check(limits, self.caller(request, principal))
        except GatewayError:
            self.metrics.rate_limited.labels(route, "route").inc()
            raise

    def caller(self, request: Request, principal: Principal | None) -> str:
        """Whom per-caller limits count: the authenticated user, else the client's address."""
        return f"user:{principal.subject}" if principal else f"ip:{self.client_address.of(request.scope)}"
