"""Settings of postcard-service and its workers, from the environment.

Every field can be set with the `POSTCARD_SERVICE_` prefix; nested models use
`__`, e.g. `POSTCARD_SERVICE_WORKER__LEASE_SECONDS=10`, `POSTCARD_SERVICE_QUEUE__BACKEND=redis`,
`POSTCARD_SERVICE_GENERATOR__BLOCKED_WORDS='["spam","scam"]'` (lists are JSON) or
`POSTCARD_SERVICE_ADMISSION__MAX_QUEUE_DEPTH=500`.
The service (`python -m services.postcard`) and the standalone worker
(`python -m services.postcard.worker_main`) read the same settings, so both
point at the same database by default.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.config import check_log_level
from trust.settings import TokenSettings
from trust.tls import InternalTls

ENV_PREFIX = "POSTCARD_SERVICE_"


class PostcardTlsSettings(InternalTls):
    """The service's identity on the internal hop (`trust.tls`): its certificate and key, and the CA whose
    certificates clients must present; or plaintext, for local development only."""

    ENV_PREFIX: ClassVar[str] = "POSTCARD_SERVICE_TLS__"


class PostcardAuthSettings(TokenSettings):
    """How the service verifies the callers' tokens (`trust.settings`): the user-service's keys, its claims."""

    ENV_PREFIX: ClassVar[str] = "POSTCARD_SERVICE_AUTH__"


class QueueSettings(BaseModel):
    """Where queued tasks wait for a worker. Every process of one deployment (the service and its worker
    processes) must use the same backend, stream and group.

    "sqlite": the `queue` table of the database is the queue (workers lease rows): nothing else to run.
    "redis": the table stays the transactional outbox, and a relay in every process moves its rows to a
    Redis stream read by a consumer group (services.postcard.redisqueue): delivery, leases and retries
    are the broker's, and the database is written only to create tasks and to store results. Tasks
    and results stay in the database either way, so every process still opens the same database file.
    """

    backend: Literal["sqlite", "redis"] = "sqlite"
    # Required with backend "redis": redis://[:password@]host:6379/0, rediss://... (TLS) or unix:///path.
    redis_url: str | None = None
    # The stream's key and the consumer group's name: one pair per deployment sharing a Redis.
    stream: str = Field(default="postcard:tasks", min_length=1)
    group: str = Field(default="postcard-workers", min_length=1)

    @model_validator(mode="after")
    def _redis_needs_its_url(self) -> QueueSettings:
        if self.backend == "redis" and not (self.redis_url or "").strip():
            raise ValueError(
                f"{ENV_PREFIX}QUEUE__REDIS_URL must be set when {ENV_PREFIX}QUEUE__BACKEND is redis "
                "(e.g. redis://redis:6379/0)"
            )
        return self


class WorkerSettings(BaseModel):
    """The queue workers: embedded in the service process and/or standalone processes.

    The timings mean the same for both queue backends; how each backend applies them is said per field.
    """

    # Run workers as asyncio tasks inside the service process (the simple default).
    embedded: bool = True
    # Workers per process (embedded or standalone); each handles one task at a time.
    count: int = Field(default=1, ge=1, le=64)
    # How long a claim is valid without renewal. A live worker renews it every
    # lease_seconds / 3 while it works, so only a dead worker's lease expires.
    # Redis: the idle time after which another worker takes a pending entry over (XAUTOCLAIM's
    # min-idle-time); a renewal resets the entry's idle time.
    lease_seconds: float = Field(default=30.0, gt=0)
    # How often an idle worker looks for work (embedded workers are also woken on create).
    # Redis: how long one XREADGROUP waits (BLOCK) for a new entry; new entries wake it at once. Also how
    # often each process relays outbox rows left over (a create in the same process relays at once).
    poll_interval_seconds: float = Field(default=0.5, gt=0)
    # Claims of one task before it is marked failed; a claim that ends without a
    # result (the worker crashed or lost its lease) uses one attempt.
    # Redis: the entry's delivery count; an entry reclaimed with more deliveries than this is given up.
    max_attempts: int = Field(default=3, ge=1)
    # Prometheus metrics of a standalone worker process (worker_main) over HTTP on `host`: off when
    # unset; 0 picks a free port (logged). Embedded workers count in the service's metrics.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)


class GeneratorSettings(BaseModel):
    """The AI-workflow stand-in: a moderation step, a delay, then deterministic rendering."""

    # Simulated generation time (awaited with asyncio.sleep, never blocking the loop).
    delay_seconds: float = Field(default=1.0, ge=0)
    # Whole words (case-insensitive) that make moderation reject a request.
    blocked_words: list[str] = Field(default_factory=lambda: ["violence", "hatred", "scam"])

    @model_validator(mode="after")
    def _normalise_words(self) -> GeneratorSettings:
        # Blank entries would match nothing useful; drop them rather than fail start-up.
        self.blocked_words = [word.strip() for word in self.blocked_words if word.strip()]
        return self


class WatchSettings(BaseModel):
    """WatchTaskStatus streams: one loop per service process checks every watched task (`watch.py`)."""

    # How often the loop reads the status of all watched tasks (one query); a change reaches its
    # watchers at most this much later.
    interval_seconds: float = Field(default=0.5, gt=0)


class AdmissionSettings(BaseModel):
    """Admission control of CreatePostcard: how much unfinished work the queue takes before it refuses more."""

    # Tasks of one user waiting or being generated; one more is refused (RESOURCE_EXHAUSTED, the gateway's 429).
    max_unfinished_per_user: int = Field(default=10, ge=1)
    # Tasks of everyone waiting or being generated; one more is refused likewise.
    max_queue_depth: int = Field(default=1000, ge=1)
    # When a refused client should try again (google.rpc.RetryInfo, the gateway's Retry-After).
    retry_after_seconds: float = Field(default=5.0, gt=0)


class PostcardServiceSettings(BaseSettings):
    """All settings of postcard-service (see the module docstring for the environment names)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=50052, ge=0, le=65535)
    # On stop, health turns NOT_SERVING and calls are still served this long, so that clients
    # watching health (the gateway) stop sending before the port closes.
    drain_seconds: float = Field(default=1.0, ge=0)
    # Then in-flight calls (and in-flight worker tasks) get this long to finish.
    grace_seconds: float = Field(default=5.0, ge=0)
    log_level: str = "INFO"
    # Mutual TLS on the gRPC port; without it the service refuses to start, unless
    # POSTCARD_SERVICE_TLS__INSECURE_PLAINTEXT=true.
    tls: PostcardTlsSettings | None = None
    # The service verifies each caller's JWT itself: set AUTH__JWKS_PATH or AUTH__JWKS_URL (workers need neither).
    auth: PostcardAuthSettings | None = None
    # grpc.health.v1 alone, in plaintext, for probes that cannot present a client certificate (Kubernetes'
    # gRPC probes): off when unset; 0 picks a free port (logged).
    health_port: int | None = Field(default=None, ge=0, le=65535)
    # Prometheus metrics of the service process over HTTP on `host`: off when unset; 0 picks a free
    # port (logged).
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    db_path: Path = Path(".state/postcard-service/postcards.sqlite3")
    # Signs ListMyPostcards' page tokens (HMAC-SHA256). Every process serving the same database must
    # have the same one. Unset: a random one per process, logged as a warning (tokens then die with
    # the process and do not work on another replica).
    page_token_secret: SecretStr | None = Field(default=None, min_length=32)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        return check_log_level(value, f"{ENV_PREFIX}LOG_LEVEL")
