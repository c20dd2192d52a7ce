"""Gateway settings: pydantic-settings, env prefix GATEWAY_, one nested model per concern.

Nested values come from env variables with `__` between levels, for example
GATEWAY_HTTP__PORT=8080, GATEWAY_AUTH__JWKS_PATH=.state/user-service/jwks.json, or
GATEWAY_UPSTREAMS='{"postcardapp.user.v1.UserService": {"endpoints": ["127.0.0.1:50051"]}}'.
Build the settings once in `main` and pass them to `create_app`; nothing reads
the environment at import time.
"""
from __future__ import annotations

import ipaddress
from typing import ClassVar, Literal

from limits import parse_many
from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trust.settings import TokenSettings
from trust.tls import InternalTls

USER_SERVICE = "postcardapp.user.v1.UserService"
POSTCARD_SERVICE = "postcardapp.postcard.v1.PostcardService"


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Request bodies larger than this are refused with 413 without being read whole.
    max_body_bytes: int = Field(64 * 1024, gt=0)
    # CORS: browser origins allowed to call the API; none by default.
    cors_origins: list[str] = []
    # After SIGTERM: readiness turns DOWN at once and new requests are still served for this long (so that load
    # balancers notice first) ...
    drain_seconds: float = Field(5.0, ge=0)
    # ... then the listener closes and in-flight requests get this long to finish.
    shutdown_grace_seconds: float = Field(10.0, ge=0)
    # Slow and greedy clients (gateway/http_server.py): request line and headers, then the body,
    # must arrive within these; an idle keep-alive connection is closed after its timeout.
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(30.0, gt=0)
    keep_alive_timeout_seconds: float = Field(5.0, gt=0)
    max_header_bytes: int = Field(32 * 1024, gt=0)
    # Load shedding: beyond these a request gets a fast 503 instead of the application.
    max_connections: int = Field(1000, gt=0)
    max_in_flight_requests: int = Field(500, gt=0)


class AuthSettings(TokenSettings):
    """JWT verification of the clients' tokens (`trust.settings`)."""

    ENV_PREFIX: ClassVar[str] = "GATEWAY_AUTH__"


class UpstreamTlsSettings(InternalTls):
    """The gateway's identity towards the services: mutual TLS (`trust.tls`), or explicit plaintext."""

    ENV_PREFIX: ClassVar[str] = "GATEWAY_UPSTREAM_TLS__"


class HealthCheckSettings(BaseModel):
    """How the gateway follows each endpoint's grpc.health.v1 status."""

    # The service name asked about; None means the upstream's own full service name ("" is the whole server).
    service_name: str | None = None
    # A broken Watch stream is reopened after a jittered, doubling delay between these bounds; the same bounds
    # cap gRPC's own reconnect backoff, so a restarted endpoint is seen again within `reconnect_max_seconds`.
    reconnect_initial_seconds: float = Field(0.1, gt=0)
    reconnect_max_seconds: float = Field(5.0, gt=0)
    # Only for servers without Watch (UNIMPLEMENTED): how often to poll Check, and its deadline.
    check_interval_seconds: float = Field(5.0, gt=0)
    check_timeout_seconds: float = Field(1.0, gt=0)


class BreakerSettings(BaseModel):
    """The circuit breaker around each endpoint channel (pybreaker, state in this process)."""

    # Consecutive backend faults (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN) that open it.
    failure_threshold: int = Field(5, ge=1)
    # How long it stays open before one probe call may go through (half-open).
    reset_timeout_seconds: float = Field(10.0, gt=0)


class RetrySettings(BaseModel):
    """Retries of idempotent calls (and creates with an Idempotency-Key) on another endpoint."""

    # Tries in all, the first included; 1 disables retries. Never more than the number of endpoints.
    max_attempts: int = Field(3, ge=1, le=10)
    # Deadline of one try (within the call's deadline); None gives each try what is left of the deadline.
    # A try cut by it is retried like UNAVAILABLE.
    per_try_timeout_seconds: float | None = Field(None, gt=0)
    # Full-jitter exponential backoff before a retry: uniform(0, min(max, base * 2**retry)).
    backoff_base_seconds: float = Field(0.025, ge=0)
    backoff_max_seconds: float = Field(0.25, ge=0)
    # Retry budget: retries may be at most this fraction of the calls of the last `budget_window_seconds` ...
    budget_ratio: float = Field(0.2, ge=0, le=1)
    budget_window_seconds: float = Field(10.0, gt=0)
    # ... plus this many per second, so that a quiet service can still retry.
    budget_min_per_second: float = Field(1.0, ge=0)


class UpstreamSettings(BaseModel):
    """One backend gRPC service: where its endpoints are, and how calls to them are protected."""

    # host:port of each endpoint (one long-lived channel each) ...
    endpoints: list[str] = []
    # ... or a DNS name "host:port" re-resolved every `dns_refresh_seconds` to all its addresses
    # (a Kubernetes headless service).
    dns: str | None = None
    dns_refresh_seconds: float = Field(10.0, gt=0)
    # Deadline of a call when the contract's policy sets none. A client's grpc-timeout header may shorten a
    # deadline, never lengthen it.
    timeout_seconds: float = Field(5.0, gt=0)
    # Retry-After (seconds) of a 503 when no endpoint is eligible for a reason other than an open breaker.
    retry_after_seconds: int = Field(1, ge=1)
    # Readiness is DOWN while a required service has no endpoint in rotation (the whole gateway leaves the load
    # balancer); false keeps the gateway ready and lets that service's routes answer 503 or their fallback.
    required: bool = True
    # The name the service's TLS certificate must carry. Unset: the host of `dns`, or of each endpoint
    # (an IP address is then checked against the certificate's IP addresses).
    tls_server_name: str | None = None
    health: HealthCheckSettings = HealthCheckSettings()
    breaker: BreakerSettings = BreakerSettings()
    retry: RetrySettings = RetrySettings()

    @model_validator(mode="after")
    def _one_endpoint_source(self) -> UpstreamSettings:
        if bool(self.endpoints) == (self.dns is not None):
            raise ValueError('set exactly one of "endpoints" (a list of host:port) and "dns" (one host:port)')
        if self.dns is not None and not _has_port(self.dns):
            raise ValueError(f'"dns" must be host:port, got {self.dns!r}')
        return self


def _has_port(target: str) -> bool:
    host, _, port = target.rpartition(":")
    return bool(host) and port.isdigit()


class FallbackSettings(BaseModel):
    """The last-good-answer cache of routes whose contract declares FALLBACK_CACHED_OR_EMPTY."""

    # How long an answer may be served in place of a failing upstream.
    ttl_seconds: float = Field(300.0, gt=0)
    # Bounds of the cache (least recently used first out): entries, and their total protobuf size.
    max_entries: int = Field(10_000, ge=0)
    max_bytes: int = Field(64 * 1024 * 1024, ge=0)


class RateLimitSettings(BaseModel):
    """Per-caller rate limits (the `limits` library, asyncio API). Limits are strings such as "10/second;100/minute".

    The caller is the authenticated user, else the client IP.
    """

    enabled: bool = True
    # "memory://" (this process only), or "async+redis://host:6379/0" so that several gateway processes share limits.
    storage_uri: str = "memory://"
    # The sliding-window counter keeps two counters per caller (memory and Redis stay small) and approximates a
    # moving window closely; "moving-window" is exact but keeps one entry per request of the window.
    strategy: Literal["moving-window", "fixed-window", "sliding-window-counter"] = "sliding-window-counter"
    # Every route not named in `routes`.
    default: str = "20/second;600/minute"
    # By full gRPC method name, e.g. {"postcardapp.user.v1.UserService.Login": "10/minute"}.
    routes: dict[str, str] = {
        "postcardapp.user.v1.UserService.Login": "10/minute;100/hour",
        "postcardapp.postcard.v1.PostcardService.CreatePostcard": "10/minute;100/hour",
    }
    # Failed authentications per client IP (token guessing); beyond it, tokens not already verified get 429.
    auth_failures: str = "20/minute"
    # Peers whose X-Forwarded-For is believed (IPs or CIDR networks); the client is the rightmost untrusted address.
    trusted_proxies: list[str] = []
    # When the storage fails (Redis down): True lets requests through (logged, re-tried after `storage_retry_seconds`).
    fail_open: bool = True
    storage_retry_seconds: float = Field(5.0, gt=0)
    # Socket timeouts of the Redis client, so that a hung Redis cannot hold requests.
    storage_timeout_seconds: float = Field(0.25, gt=0)

    @model_validator(mode="after")
    def _valid_limits(self) -> RateLimitSettings:
        for where, value in [("default", self.default), ("auth_failures", self.auth_failures),
                             *(("routes." + name, value) for name, value in self.routes.items())]:
            try:
                if not parse_many(value):
                    raise ValueError
            except ValueError:
                raise ValueError(f"rate limit {where}: {value!r} is not like '10/second;100/minute'") from None
        for proxy in self.trusted_proxies:
            ipaddress.ip_network(proxy, strict=False)  # ValueError names the bad entry
        return self


class StreamSettings(BaseModel):
    """Server-streaming routes: Server-Sent Events or NDJSON (gateway/streaming/)."""

    # Longest a stream stays open when its contract sets no `timeout` (a client's grpc-timeout may shorten it).
    max_duration_seconds: float = Field(300.0, gt=0)
    # Server-Sent Events: a comment line this often, so that idle proxies keep the connection open.
    heartbeat_seconds: float = Field(15.0, gt=0)
    # Server-Sent Events: the `retry:` hint, how long an EventSource waits before it reconnects (milliseconds).
    retry_milliseconds: int = Field(3000, ge=0)
    # Open streams of one caller (beyond: 429) and of this process (beyond: 503; None: half of
    # GATEWAY_HTTP__MAX_IN_FLIGHT_REQUESTS, since an open stream is an in-flight request to the HTTP server).
    max_per_caller: int = Field(10, ge=1)
    max_total: int | None = Field(None, ge=1)
    # A client that takes longer than this to accept one event (it stopped reading) is dropped.
    send_timeout_seconds: float = Field(30.0, gt=0)


class ContractSettings(BaseModel):
    """Where the gateway finds the compiled contracts (imported for their descriptors)."""

    # Python modules (generated *_pb2) that define the services named in `upstreams`.
    modules: list[str] = [
        "postcardapp.user.v1.user_service_pb2",
        "postcardapp.postcard.v1.postcard_service_pb2",
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_nested_delimiter="__", extra="forbid")

    http: HttpSettings = HttpSettings()
    auth: AuthSettings
    contracts: ContractSettings = ContractSettings()
    # Keyed by full gRPC service name; only these services get routes.
    upstreams: dict[str, UpstreamSettings]
    # The internal hop: the gateway's certificate, key and the internal CA, or insecure_plaintext=true.
    upstream_tls: UpstreamTlsSettings
    fallback: FallbackSettings = FallbackSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    streams: StreamSettings = StreamSettings()
    # At start-up, wait at most this long for every endpoint's first health report before reporting ready.
    startup_wait_seconds: float = Field(3.0, ge=0)
    log_level: str = "INFO"

    @property
    def max_open_streams(self) -> int:
        """The cap on open streams in this process (`streams.max_total`, else half the in-flight limit)."""
        return self.streams.max_total or max(1, self.http.max_in_flight_requests // 2)

    @model_validator(mode="after")
    def _streams_leave_room(self) -> Settings:
        # An open stream is an in-flight request to the HTTP server: streams alone must not reach its limit.
        if self.streams.max_total is not None and self.streams.max_total >= self.http.max_in_flight_requests:
            raise ValueError(
                f"GATEWAY_STREAMS__MAX_TOTAL ({self.streams.max_total}) must be below "
                f"GATEWAY_HTTP__MAX_IN_FLIGHT_REQUESTS ({self.http.max_in_flight_requests}): open streams count as "
                "in-flight requests, and other requests would be shed"
            )
        return self
