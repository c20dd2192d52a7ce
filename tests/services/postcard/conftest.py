"""Fixtures for the postcard-service tests: settings in tmp_path, running servers, worker processes.

Servers are real (127.0.0.1, port 0), the database is a real SQLite file in tmp_path, and
workers that must be killed are real processes (killed by their own PID only). The queue is
SQLite's unless a test asks for ``backend`` "redis" (``backends.both_backends``): then a real
redis-server of the test's own. Test modules live in a folder without __init__.py, so their
names carry a ``postcard_`` prefix to stay unique across the suite.
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from services.postcard.server import create_server
from services.postcard.settings import PostcardServiceSettings, PostcardTlsSettings
from tests.services.postcard.backends import OpenView, QueueView, view_of
from tests.services.postcard.support import (
    USER_SERVICE_KEY,
    MakeSettings,
    Running,
    Serve,
    SpawnWorker,
    WorkerProcess,
    start_worker_process,
)
from tests.support.grpc_services import started
from tests.support.pki import tls_settings
from tests.support.redis_server import RedisServer


@pytest.fixture(autouse=True)
def _no_postcard_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own POSTCARD_SERVICE_* variables must not change what a test sees.
    for name in list(os.environ):
        if name.startswith("POSTCARD_SERVICE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def backend() -> str:
    """The queue backend of `make_settings`: SQLite, unless the test is parametrized (`both_backends`)."""
    return "sqlite"


@pytest.fixture
def queue_settings(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The `queue` settings of `backend`; for Redis, the test's own `redis_server` (started only then)."""
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return {"backend": "redis", "redis_url": server.url}
    return {"backend": backend}


@pytest.fixture
def make_settings(tmp_path: Path, queue_settings: dict[str, Any], pki: Path) -> MakeSettings:
    """Settings for a fast test server on a free port with its database in tmp_path, on the test's backend, mutual TLS
    as deployed and callers' tokens verified against `USER_SERVICE_KEY`.

    Keyword overrides replace top-level values and merge into the nested ``queue``/``worker``/``generator`` ones.
    """

    def make(**overrides: Any) -> PostcardServiceSettings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "grace_seconds": 0.5,
            "drain_seconds": 0,
            "db_path": tmp_path / "postcards.sqlite3",
            "queue": queue_settings,
            "worker": {"embedded": True, "count": 2, "lease_seconds": 5, "poll_interval_seconds": 0.05},
            "generator": {"delay_seconds": 0.05, "blocked_words": ["forbidden", "scam"]},
            "watch": {"interval_seconds": 0.05},
            "tls": tls_settings(pki, "postcard-service", PostcardTlsSettings),
            "auth": {"jwks_path": USER_SERVICE_KEY.write_jwks(tmp_path / "jwks.json")},
        }
        for key, value in overrides.items():
            merge = isinstance(value, dict) and key != "tls"  # TLS settings are replaced whole (files or plaintext)
            values[key] = {**values.get(key, {}), **value} if merge else value
        return PostcardServiceSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> PostcardServiceSettings:
    return make_settings()


@pytest.fixture
def open_view() -> Iterator[OpenView]:
    """``open_view(settings)``: the state of the queue of `settings`, read from outside (closed after the test).
    For Redis, the lease its holdings are measured by is that of `settings`."""
    views: list[QueueView] = []

    def open_(settings: PostcardServiceSettings) -> QueueView:
        views.append(view_of(settings))
        return views[-1]

    yield open_
    for view in views:
        view.close()


@pytest.fixture
def queue_view(open_view: OpenView, settings: PostcardServiceSettings) -> QueueView:
    """The state of the test's queue (`settings`), read from outside."""
    return open_view(settings)


@pytest.fixture
def serve() -> Serve:
    """``async with serve(settings) as running``: a started server and a channel, both closed after."""

    @asynccontextmanager
    async def serving(settings: PostcardServiceSettings) -> AsyncIterator[Running]:
        async with started(create_server, settings) as (server, port, channel):
            yield Running(server, port, settings, channel, pb_grpc.PostcardServiceStub(channel))

    return serving


@pytest.fixture
async def running(serve: Serve, settings: PostcardServiceSettings) -> AsyncIterator[Running]:
    async with serve(settings) as running:
        yield running


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[SpawnWorker]:
    """Start worker_main processes with the given settings; each is killed (by PID) and reaped after the test."""
    started: list[WorkerProcess] = []

    def spawn(settings: PostcardServiceSettings) -> WorkerProcess:
        worker = start_worker_process(settings, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.close()
