"""GetMe: the caller comes from x-user-id metadata, never from the request."""
from __future__ import annotations

import time
import uuid

import grpc
import pytest

from postcardapp.user.v1 import user_service_pb2 as pb
from services.common.identity import USER_ID_METADATA
from tests.fakes.wechat import FakeWeChat
from tests.services.user.support import Running


async def test_the_caller_gets_their_profile(running: Running, fake_wechat: FakeWeChat) -> None:
    before = time.time()
    login = await running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code()))
    user_id = running.verify(login.token)["sub"]

    me = await running.stub.GetMe(pb.GetMeRequest(), metadata=[(USER_ID_METADATA, user_id)])

    assert me.user_id == user_id
    assert (me.nickname, me.avatar_url) == ("", "")  # WeChat's login no longer tells us these
    assert me.HasField("created_at")
    assert int(before) <= me.created_at.seconds <= time.time()
    # The same answer on a later call: created_at is the first login, not "now".
    assert await running.stub.GetMe(pb.GetMeRequest(), metadata=[(USER_ID_METADATA, user_id)]) == me


@pytest.mark.parametrize(
    "metadata",
    [[], [(USER_ID_METADATA, "")], [(USER_ID_METADATA, "u" * 129)]],
    ids=["absent", "empty", "too-long"],
)
async def test_without_a_caller_it_is_unauthenticated(running: Running, metadata: list[tuple[str, str]]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.GetMe(pb.GetMeRequest(), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_unknown_caller_is_not_found(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.GetMe(pb.GetMeRequest(), metadata=[(USER_ID_METADATA, str(uuid.uuid4()))])
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "user not found"
