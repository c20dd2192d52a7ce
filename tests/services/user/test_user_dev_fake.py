"""Development mode: no WeChat at all, any code is a stable user, and it says so at start-up."""
from __future__ import annotations

import logging

import grpc
import pytest

from postcardapp.user.v1 import user_service_pb2 as pb
from services.user.wechat import dev_open_id
from tests.fakes.wechat import FakeWeChat
from tests.services.user.support import MakeSettings, Serve


async def test_any_code_is_a_stable_user_and_wechat_is_never_called(
    serve: Serve, make_settings: MakeSettings, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(wechat={"dev_fake": True, "appid": "", "secret": ""})
    with caplog.at_level(logging.WARNING):
        async with serve(settings) as running:
            alice = await running.stub.Login(pb.LoginRequest(code="alice"))
            again = await running.stub.Login(pb.LoginRequest(code="alice"))  # dev codes are reusable
            bob = await running.stub.Login(pb.LoginRequest(code="bob"))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await running.stub.Login(pb.LoginRequest(code="  "))

    assert (alice.is_new_user, again.is_new_user, bob.is_new_user) == (True, False, True)
    assert again.HasField("is_new_user")
    assert running.verify(alice.token)["sub"] == running.verify(again.token)["sub"] != running.verify(bob.token)["sub"]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fake_wechat.requests == []
    assert any("dev_fake" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_dev_open_ids_are_stable_and_distinct() -> None:
    assert dev_open_id("alice") == dev_open_id("alice")
    assert dev_open_id("alice") != dev_open_id("bob")
    assert dev_open_id("alice").startswith("dev-") and len(dev_open_id("alice")) == 20


async def test_dev_fake_is_off_unless_configured(
    serve: Serve, make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        async with serve(make_settings()) as running:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await running.stub.Login(pb.LoginRequest(code="alice"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED  # the fake WeChat never issued "alice"
    assert not any("dev_fake" in r.getMessage() for r in caplog.records)
