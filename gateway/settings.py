"""Gateway settings: pydantic-settings, env prefix GATEWAY_, one nested model per concern.

Nested values come from env variables with `__` between levels, for example
GATEWAY_HTTP__PORT=8080, GATEWAY_AUTH__JWKS_PATH=.state/user-service/jwks.json, or
GATEWAY_UPSTREAMS='{"postcardapp.user.v1.UserService": {"endpoints": ["127.0.0.1:50051"]}}'.
Build the settings once in `main` and pass them to `create_app`; nothing reads
the environment at import time.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

USER_SERVICE = "postcardapp.user.v1.UserService"
POSTCARD_SERVICE = "postcardapp.postcard.v1.PostcardService"


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Request bodies larger than this are refused with 413 without being read whole.
    max_body_bytes: int = Field(64 * 1024, gt=0)
    # CORS: browser origins allowed to call the API; none by default.
    cors_origins: list[str] = []
    # Seconds to let in-flight requests finish on SIGTERM.
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


class AuthSettings(BaseModel):
    """JWT verification. Exactly one key source (file or URL) is required."""

    # JWKS document written by the user-service (development) ...
    jwks_path: Path | None = None
    # ... or served over HTTP(S).
    jwks_url: str | None = None
    # How often the key set is reloaded (and at most how often an unknown kid triggers a reload).
    jwks_refresh_seconds: float = Field(300.0, gt=0)
    jwks_min_refresh_interval_seconds: float = Field(10.0, ge=0)
    issuer: str = "postcardapp-user-service"
    audience: str = "postcardapp-gateway"
    # Explicit allow-list: never derived from the token header.
    algorithms: list[str] = ["EdDSA"]
    leeway_seconds: float = Field(30.0, ge=0, le=300)
    # Verified tokens kept (until their exp) so a hot token is not re-verified on every request.
    token_cache_size: int = Field(10_000, ge=0)

    @model_validator(mode="after")
    def _one_key_source(self) -> AuthSettings:
        if (self.jwks_path is None) == (self.jwks_url is None):
            raise ValueError(
                "set exactly one JWT key source: GATEWAY_AUTH__JWKS_PATH (a JWKS file) "
                "or GATEWAY_AUTH__JWKS_URL (an http(s) URL serving a JWKS document)"
            )
        if "none" in {a.lower() for a in self.algorithms} or any(a.upper().startswith("HS") for a in self.algorithms):
            raise ValueError("GATEWAY_AUTH__ALGORITHMS may hold only asymmetric algorithms (EdDSA, RS256, ES256, ...)")
        return self


class UpstreamSettings(BaseModel):
    """One backend gRPC service: where it runs and how long a call may take."""

    # host:port of each endpoint (one long-lived channel each).
    endpoints: list[str] = Field(min_length=1)
    # Deadline of a call when the contract's policy sets none.
    timeout_seconds: float = Field(5.0, gt=0)


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
    log_level: str = "INFO"
