"""Fixtures for the user-service tests: the fake WeChat, settings in tmp_path, a running server.

Shared types and helpers live in ``support`` (importable by the test modules, unlike a conftest).
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from postcardapp.user.v1 import user_service_pb2_grpc as pb_grpc
from services.user.server import create_server
from services.user.settings import UserServiceSettings, UserTlsSettings
from tests.fakes.wechat import FakeWeChat
from tests.services.user.support import MakeSettings, Running, Serve
from tests.support.grpc_services import started
from tests.support.pki import tls_settings


@pytest.fixture(autouse=True)
def _no_user_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own USER_SERVICE_* variables must not change what a test sees.
    for name in list(os.environ):
        if name.startswith("USER_SERVICE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture
def make_settings(tmp_path: Path, fake_wechat: FakeWeChat, pki: Path) -> MakeSettings:
    """Settings for a server on a free port, state in tmp_path, WeChat at the fake, mutual TLS as deployed.

    Keyword overrides replace top-level values and merge into the nested ``wechat``/``jwt`` ones.
    """

    def make(**overrides: Any) -> UserServiceSettings:
        values: dict[str, Any] = {
            "port": 0,
            "grace_seconds": 0,
            "drain_seconds": 0,
            "state_dir": tmp_path / "state",
            "wechat": {
                "base_url": fake_wechat.base_url,
                "appid": fake_wechat.appid,
                "secret": fake_wechat.secret,
                # Generous, so that a loaded machine never turns a slow answer into UNAVAILABLE;
                # the timeout test sets its own short one.
                "timeout_seconds": 30.0,
            },
            "jwt": {"generate_dev_key": True},
            "tls": tls_settings(pki, "user-service", UserTlsSettings),
        }
        for key, value in overrides.items():
            merge = isinstance(value, dict) and key != "tls"  # TLS settings are replaced whole (files or plaintext)
            values[key] = {**values[key], **value} if merge else value
        return UserServiceSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> UserServiceSettings:
    return make_settings()


@pytest.fixture
def serve() -> Serve:
    """``async with serve(settings) as running``: a started server and a channel (mutual TLS as the "developer"
    unless the settings ask for plaintext), both closed after."""

    @asynccontextmanager
    async def serving(settings: UserServiceSettings) -> AsyncIterator[Running]:
        async with started(create_server, settings) as (server, port, channel):
            yield Running(server, port, settings, channel, pb_grpc.UserServiceStub(channel))

    return serving


@pytest.fixture
async def running(serve: Serve, settings: UserServiceSettings) -> AsyncIterator[Running]:
    async with serve(settings) as running:
        yield running
