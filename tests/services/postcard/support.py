"""Helpers the postcard-service tests share: a running server's handle, database inspection, worker processes.

Imported as ``tests.services.postcard.support`` (not ``conftest``: every test folder has a
conftest, and pytest imports them all under that one name). Every wait here is bounded in
both iterations and time.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from services.common.server import ServiceServer
from services.postcard.settings import PostcardServiceSettings
from tests.support.keys import SigningKey

VALID_FIELDS = {"mood": "happy", "style": "watercolour", "theme": "a birthday by the sea", "recipient": "Mia"}


# The user-service's key, as far as these tests are concerned: the services' settings trust its JWKS.
USER_SERVICE_KEY = SigningKey()


def as_user(user_id: str | None, idempotency_key: str | None = None) -> tuple[tuple[str, str], ...]:
    """Call metadata as the gateway would send it: the caller's bearer token (none when `user_id` is None)."""
    metadata = []
    if user_id is not None:
        metadata.append(("authorization", f"Bearer {USER_SERVICE_KEY.token(sub=user_id, ttl=3600)}"))
    if idempotency_key is not None:
        metadata.append(("idempotency-key", idempotency_key))
    return tuple(metadata)


@dataclass
class Running:
    """A started postcard-service and a client channel to it."""

    server: ServiceServer
    port: int
    settings: PostcardServiceSettings
    channel: grpc.aio.Channel
    stub: pb_grpc.PostcardServiceStub

    @property
    def db_path(self) -> Path:
        return self.settings.db_path

    async def create(self, user_id: str, idempotency_key: str | None = None, **fields: str) -> str:
        request = pb.CreatePostcardRequest(**{**VALID_FIELDS, **fields})
        response = await self.stub.CreatePostcard(request, metadata=as_user(user_id, idempotency_key))
        return response.task_id

    async def status(self, user_id: str, task_id: str) -> pb.GetTaskStatusResponse:
        return await self.stub.GetTaskStatus(pb.GetTaskStatusRequest(task_id=task_id), metadata=as_user(user_id))

    async def wait_finished(self, user_id: str, task_id: str, within: float = 15.0) -> pb.GetTaskStatusResponse:
        """Poll until the task is no longer processing (at most `within` seconds)."""
        deadline = time.monotonic() + within
        for _ in range(int(within / 0.02) + 1):
            status = await self.status(user_id, task_id)
            if status.status != "processing" or time.monotonic() > deadline:
                return status
            await asyncio.sleep(0.02)
        return status


MakeSettings = Callable[..., PostcardServiceSettings]
Serve = Callable[[PostcardServiceSettings], AbstractAsyncContextManager[Running]]


def query(db_path: Path, sql: str, *params: Any) -> list[tuple]:
    """Rows of `sql` read with a separate connection, as another process would."""
    connection = sqlite3.connect(db_path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def count_rows(db_path: Path, table: str) -> int:
    return query(db_path, f"SELECT count(*) FROM {table}")[0][0]


def settings_env(settings: PostcardServiceSettings) -> dict[str, str]:
    """The environment that makes another process read exactly `settings` (POSTCARD_SERVICE_*)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("POSTCARD_SERVICE_")}
    for key, value in settings.model_dump(mode="json", exclude_none=True).items():
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                encoded = json.dumps(sub_value) if isinstance(sub_value, list | bool) else str(sub_value)
                env[f"POSTCARD_SERVICE_{key.upper()}__{sub_key.upper()}"] = encoded
        else:
            env[f"POSTCARD_SERVICE_{key.upper()}"] = str(value)
    return env


@dataclass
class WorkerProcess:
    """A `python -m services.postcard.worker_main` process started by a test, logging to a file."""

    process: subprocess.Popen
    log_path: Path
    _log_file: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        self._log_file.flush()
        records = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    async def wait_exit(self, within: float = 10.0) -> int | None:
        """The exit code, or None if it did not exit within `within` seconds."""
        for _ in range(int(within / 0.05) + 1):
            code = self.process.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        return None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` to this process only (by its PID), if it is still running."""
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def close(self) -> None:
        """Kill if still running, reap, close the log file."""
        self.kill()
        self.process.wait(timeout=10)
        self._log_file.close()


SpawnWorker = Callable[[PostcardServiceSettings], WorkerProcess]


def start_worker_process(settings: PostcardServiceSettings, log_path: Path) -> WorkerProcess:
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.postcard.worker_main"],
        env=settings_env(settings),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=log_file,
    )
    return WorkerProcess(process, log_path, log_file)
