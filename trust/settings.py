"""How a process verifies the users' JWTs: the key source and the claims it requires.

The gateway (`GATEWAY_AUTH__*`) and the services that take the caller from the token
(`POSTCARD_SERVICE_AUTH__*`, ...) embed the same model, each naming its own variables in errors.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field, model_validator


class TokenSettings(BaseModel):
    """JWT verification. Exactly one key source (file or URL) is required."""

    # The variable prefix of this model in its program's environment, for error messages.
    ENV_PREFIX: ClassVar[str] = "AUTH__"

    # JWKS document written by the user-service (development) ...
    jwks_path: Path | None = None
    # ... or served over HTTP(S).
    jwks_url: str | None = None
    # The CA (PEM) an https `jwks_url` must be signed by, e.g. the internal CA; unset: the system's CAs.
    jwks_ca_file: Path | None = None
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
    def _one_key_source(self) -> TokenSettings:
        prefix = self.ENV_PREFIX
        if (self.jwks_path is None) == (self.jwks_url is None):
            raise ValueError(
                f"set exactly one JWT key source: {prefix}JWKS_PATH (a JWKS file) "
                f"or {prefix}JWKS_URL (an http(s) URL serving a JWKS document)"
            )
        if "none" in {a.lower() for a in self.algorithms} or any(a.upper().startswith("HS") for a in self.algorithms):
            raise ValueError(f"{prefix}ALGORITHMS may hold only asymmetric algorithms (EdDSA, RS256, ES256, ...)")
        return self
