"""The whole system for end-to-end tests: both services, the embedded worker and the gateway.

Real servers on 127.0.0.1 ephemeral ports, real SQLite files, the real JWKS
file the user-service writes, and the local fake WeChat HTTP server. Started
once per package (these tests share one event loop: `loop_scope="package"`).
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway.app import create_app
from gateway.settings import (
    POSTCARD_SERVICE,
    USER_SERVICE,
    AuthSettings,
    RateLimitSettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from services.postcard.server import create_server as create_postcard_server
from services.postcard.settings import PostcardServiceSettings, PostcardTlsSettings
from services.user.server import create_server as create_user_server
from services.user.settings import UserServiceSettings, UserTlsSettings
from telemetry.logs import RequestContextFilter
from tests.fakes.wechat import FakeWeChat
from tests.support.http_server import serve
from tests.support.pki import tls_settings
from tests.support.system import ProcessSystem

BLOCKED_WORD = "forbidden"
VALID_POSTCARD = {"mood": "happy", "style": "watercolour", "theme": "a birthday by the sea"}


class GatewayLog(logging.Handler):
    """Every record of the gateway and its HTTP server (uvicorn), kept for checks after the tests."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestContextFilter())  # request_id and trace_id, as the JSON log handler adds them

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("gateway", "uvicorn")):
            self.records.append(record)

    def tracebacks(self) -> list[str]:
        """The records that carry a traceback (an exception logged with exc_info)."""
        return [f"{r.name}: {r.getMessage()}" for r in self.records if r.exc_info or r.exc_text]


@dataclass
class System:
    base_url: str
    wechat: FakeWeChat
    user_state_dir: Path
    postcard_db: Path
    http: httpx.AsyncClient
    gateway_settings: Settings
    log: GatewayLog

    async def login(self, code: str | None = None) -> str:
        response = await self.http.post("/api/v1/users/login", json={"code": code or uuid.uuid4().hex})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    async def create(self, token: str, **fields: Any) -> str:
        response = await self.http.post(
            "/api/v1/postcards/create", json={**VALID_POSTCARD, **fields}, headers=bearer(token)
        )
        assert response.status_code == 202, response.text
        return response.json()["task_id"]

    async def wait_done(self, token: str, task_id: str) -> dict[str, Any]:
        """Poll the status endpoint until the task leaves "processing" (bounded: 10 s)."""
        async with asyncio.timeout(10):
            while True:
                response = await self.http.get(f"/api/v1/postcards/status/{task_id}", headers=bearer(token))
                assert response.status_code == 200, response.text
                if response.json()["status"] != "processing":
                    return response.json()
                await asyncio.sleep(0.05)

    def count_rows(self, table: str) -> int:
        with sqlite3.connect(self.postcard_db) as db:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def system(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> AsyncIterator[System]:
    root = tmp_path_factory.mktemp("system")
    with FakeWeChat() as wechat:
        wechat.accept_any_code = True
        user_settings = UserServiceSettings(
            port=0,
            grace_seconds=0.5,
            state_dir=root / "user-service",
            wechat={"base_url": wechat.base_url, "appid": wechat.appid, "secret": wechat.secret},
            jwt={"generate_dev_key": True},
            tls=tls_settings(pki, "user-service", UserTlsSettings),
        )
        postcard_settings = PostcardServiceSettings(
            port=0,
            grace_seconds=0.5,
            db_path=root / "postcards.sqlite3",
            worker={"embedded": True, "count": 2, "lease_seconds": 5, "poll_interval_seconds": 0.05},
            generator={"delay_seconds": 0.05, "blocked_words": [BLOCKED_WORD]},
            tls=tls_settings(pki, "postcard-service", PostcardTlsSettings),
            auth={"jwks_path": root / "user-service" / "jwks.json"},
        )
        # The user-service first: it writes the keys the postcard-service verifies tokens with.
        user_server, user_port = await create_user_server(user_settings)
        postcard_server, postcard_port = await create_postcard_server(postcard_settings)
        await user_server.start()
        await postcard_server.start()
        gateway_settings = Settings(
            auth=AuthSettings(jwks_path=root / "user-service" / "jwks.json"),
            # These tests log in and create far more often than a person would; limits have tests of their own.
            rate_limit=RateLimitSettings(default="1000/second", routes={}, auth_failures="1000/second"),
            upstreams={
                USER_SERVICE: UpstreamSettings(endpoints=[f"127.0.0.1:{user_port}"], tls_server_name="user-service"),
                POSTCARD_SERVICE: UpstreamSettings(endpoints=[f"127.0.0.1:{postcard_port}"],
                                                   tls_server_name="postcard-service"),
            },
            upstream_tls=tls_settings(pki, "gateway", UpstreamTlsSettings),
        )
        log = GatewayLog()
        logging.getLogger().addHandler(log)
        gateway_logger = logging.getLogger("gateway")
        gateway_logger.setLevel(logging.INFO)  # the production level: access lines included
        try:
            async with serve(create_app(gateway_settings), gateway_settings.http) as base_url:
                async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
                    system = System(
                        base_url, wechat, root / "user-service", root / "postcards.sqlite3", http, gateway_settings, log
                    )
                    yield system
                    # After every whole-system test, whatever they sent, the normal flow still works ...
                    await _login_create_poll(system)
        finally:
            logging.getLogger().removeHandler(log)
            gateway_logger.setLevel(logging.NOTSET)
            await postcard_server.stop(0, drain=0)
            await user_server.stop(0, drain=0)
        # ... and the gateway logged no traceback.
        assert log.tracebacks() == []


async def _login_create_poll(system: System) -> None:
    token = await system.login()
    task_id = await system.create(token)
    assert (await system.wait_done(token, task_id))["status"] == "completed"


@pytest_asyncio.fixture
async def processes(tmp_path: Path, pki: Path) -> AsyncIterator[ProcessSystem]:
    """Real child processes (services, gateways) for one test; all stopped by PID at its end."""
    async with AsyncExitStack() as stack:
        yield ProcessSystem(tmp_path, stack, pki)
