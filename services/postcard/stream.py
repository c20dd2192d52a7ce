"""The Redis stream of the "redis" queue backend: what an entry carries, and the clients that reach it.

An entry is one task's work, written by the outbox relay (`services.postcard.outbox`) and read by
the workers' consumer group (`services.postcard.redisqueue`): the task id, its user, the request's
fields and the create call's origin, so that a worker needs no database read to start (only a
status check). Values are strings; a missing request id or traceparent is "".

Clients never retry a failed command themselves (the relay and the workers retry with their own
back-off) and never wait long: a Redis that is down or hung costs a bounded wait, never a stuck
worker or a write lock held on the database.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from services.common.config import ConfigError
from services.postcard.model import PostcardRequest, TaskOrigin
from services.postcard.settings import ENV_PREFIX, QueueSettings

URL_VARIABLE = f"{ENV_PREFIX}QUEUE__REDIS_URL"
URL_SCHEMES = ("redis://", "rediss://", "unix://")
# Connecting, and any reply but a blocking read's, within this long.
CONNECT_TIMEOUT_SECONDS = 2.0
# The relay's replies: it holds the database's write lock while it waits for them.
RELAY_TIMEOUT_SECONDS = 2.0

_REQUEST_FIELDS = ("mood", "style", "theme", "recipient", "message")


@dataclass(frozen=True)
class StreamTask:
    """One entry's task."""

    task_id: str
    user_id: str
    request: PostcardRequest
    origin: TaskOrigin


def entry_fields(row: Mapping[str, Any]) -> dict[FieldT, EncodableT]:
    """A stream entry from an outbox row joined with its task (`task_id`, `user_id`, the request's fields,
    `request_id`, `traceparent`)."""
    names = ("task_id", "user_id", *_REQUEST_FIELDS, "request_id", "traceparent")
    return {name: row[name] or "" for name in names}


def task_of(fields: Mapping[str, str]) -> StreamTask:
    """The task an entry carries; KeyError when a field is missing (not an entry of ours)."""
    request = PostcardRequest(*(fields[name] for name in _REQUEST_FIELDS))
    origin = TaskOrigin(fields.get("request_id") or None, fields.get("traceparent") or None)
    return StreamTask(fields["task_id"], fields["user_id"], request, origin)


def async_client(settings: QueueSettings, read_timeout: float) -> redis.asyncio.Redis:
    """A client for the workers; `read_timeout` must outlast their blocking reads."""
    return redis.asyncio.Redis.from_url(
        _url(settings), retry=redis.asyncio.retry.Retry(NoBackoff(), 0), **_options(read_timeout)
    )


def sync_client(settings: QueueSettings) -> redis.Redis:
    """A client for the relay, which runs in a thread inside a database transaction."""
    return redis.Redis.from_url(
        _url(settings), retry=redis.retry.Retry(NoBackoff(), 0), **_options(RELAY_TIMEOUT_SECONDS)
    )


async def ensure_group(client: redis.asyncio.Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing. It starts at the stream's beginning, so
    entries relayed before any worker ran are read too."""
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _url(settings: QueueSettings) -> str:
    url = (settings.redis_url or "").strip()
    if not url.startswith(URL_SCHEMES):
        # Not the URL itself in the message: it may hold a password.
        raise ConfigError(f"{URL_VARIABLE} must start with {', '.join(URL_SCHEMES)}")
    return url


def _options(read_timeout: float) -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_timeout": read_timeout,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
    }
