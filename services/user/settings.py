"""Configuration of the user-service, from ``USER_SERVICE_*`` environment variables.

Nested values use ``__``: ``USER_SERVICE_WECHAT__APPID``, ``USER_SERVICE_JWT__PRIVATE_KEY_PATH``.
Lists are JSON: ``USER_SERVICE_JWT__EXTRA_PUBLIC_KEY_PATHS='["old.pem"]'``.

Building the settings never fails on missing credentials, so that tests and the command line can
fill values in afterwards; ``require_complete`` (called by ``create_server``) refuses to start
without them and names the variable to set. Paths left unset derive from ``state_dir``.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.config import ConfigError, check_log_level
from trust.tls import InternalTls

ENV_PREFIX = "USER_SERVICE_"


def env_name(*path: str) -> str:
    """The environment variable of a (nested) setting: env_name("jwt", "ttl_seconds")."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


class UserTlsSettings(InternalTls):
    """The service's identity on the internal hop (`trust.tls`): its certificate and key, and the CA whose
    certificates clients must present; or plaintext, for local development only."""

    ENV_PREFIX: ClassVar[str] = "USER_SERVICE_TLS__"


class WeChatSettings(BaseModel):
    """WeChat's ``jscode2session`` API: where it is and the mini-program's credentials."""

    base_url: str = "https://api.weixin.qq.com"
    appid: str = ""
    # SecretStr: the secret never shows in a repr, a log line or a validation error.
    secret: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=5.0, gt=0)
    # Development only: accept any non-empty code without calling WeChat (see wechat.DevFakeWeChat).
    dev_fake: bool = False


class JwtSettings(BaseModel):
    """The session token: claims, lifetime, the private signing key and the published public keys."""

    issuer: str = "postcardapp-user-service"
    audience: str = "postcardapp-gateway"
    ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # Ed25519 private key, PEM (PKCS#8). Unset: `<state_dir>/jwt-signing-key.pem`, which only
    # `generate_dev_key` may create.
    private_key_path: Path | None = None
    # Where the JWKS document (the public keys) is written at start-up. Unset: `<state_dir>/jwks.json`.
    jwks_path: Path | None = None
    # Retired keys (public or private PEM) still published, so their tokens verify until they expire.
    extra_public_key_paths: list[Path] = Field(default_factory=list)
    # Development only: create the key pair on first run when the key file is missing.
    generate_dev_key: bool = False


class UserServiceSettings(BaseSettings):
    """Everything the user-service reads at start-up."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535)
    # On stop, health turns NOT_SERVING and calls are still served this long, so that clients
    # watching health (the gateway) stop sending before the port closes.
    drain_seconds: float = Field(default=1.0, ge=0)
    # Then in-flight calls get this long to finish.
    grace_seconds: float = Field(default=5.0, ge=0)
    log_level: str = "INFO"
    # Mutual TLS on the gRPC port; without it the service refuses to start, unless
    # USER_SERVICE_TLS__INSECURE_PLAINTEXT=true.
    tls: UserTlsSettings | None = None
    # grpc.health.v1 alone, in plaintext, for probes that cannot present a client certificate (Kubernetes'
    # gRPC probes): off when unset; 0 picks a free port (logged).
    health_port: int | None = Field(default=None, ge=0, le=65535)
    # Prometheus metrics over HTTP on `host`: off when unset; 0 picks a free port (logged).
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # The JWKS over HTTP(S) at host:jwks_port/.well-known/jwks.json (HTTPS with the TLS settings), for verifiers
    # that cannot read the file: off when unset; 0 picks a free port (logged).
    jwks_port: int | None = Field(default=None, ge=0, le=65535)
    # Relative paths are relative to the working directory.
    state_dir: Path = Path(".state/user-service")
    # Unset: `<state_dir>/users.sqlite3`.
    db_path: Path | None = None
    wechat: WeChatSettings = Field(default_factory=WeChatSettings)
    jwt: JwtSettings = Field(default_factory=JwtSettings)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        return check_log_level(value, env_name("log_level"))

    @property
    def resolved_db_path(self) -> Path:
        return self.db_path or self.state_dir / "users.sqlite3"

    @property
    def resolved_private_key_path(self) -> Path:
        return self.jwt.private_key_path or self.state_dir / "jwt-signing-key.pem"

    @property
    def resolved_jwks_path(self) -> Path:
        return self.jwt.jwks_path or self.state_dir / "jwks.json"


def require_complete(settings: UserServiceSettings) -> None:
    """Raise ConfigError unless the settings are enough to serve real logins.

    WeChat credentials are needed unless ``wechat.dev_fake`` is on. The private key file is checked
    by ``keys.load_signing_key``, where the file system is read.
    """
    wechat = settings.wechat
    if wechat.dev_fake:
        return
    missing = [
        env_name("wechat", name)
        for name, value in (("appid", wechat.appid), ("secret", wechat.secret.get_secret_value()))
        if not value.strip()
    ]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} must be set (the mini-program's WeChat credentials); "
            f"for local development only, set {env_name('wechat', 'dev_fake')}=true instead"
        )
