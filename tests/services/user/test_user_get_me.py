"""GetMe: the caller comes from the bearer token the service verifies itself, never from the request."""
from __future__ import annotations

import time
import uuid

import grpc
import pytest

from postcardapp.user.v1 import user_service_pb2 as pb
from tests.fakes.wechat import FakeWeChat
from tests.services.user.support import Running
from tests.support.keys import SigningKey


async def test_the_caller_gets_their_profile(running: Running, fake_wechat: FakeWeChat) -> None:
    before = time.time()
    login = await running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code()))
    user_id = running.verify(login.token)["sub"]
    bearer = (("authorization", f"Bearer {login.token}"),)

    me = await running.stub.GetMe(pb.GetMeRequest(), metadata=bearer)

    assert me.user_id == user_id
    assert (me.nickname, me.avatar_url) == ("", "")  # WeChat's login no longer tells us these
    assert me.HasField("created_at")
    assert int(before) <= me.created_at.seconds <= time.time()
    # The same answer on a later call: created_at is the first login, not "now".
    assert await running.stub.GetMe(pb.GetMeRequest(), metadata=bearer) == me


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "missing bearer token"),
        ((("authorization", "Bearer not.a.token"),), "malformed token"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "unsupported authorization scheme, expected Bearer"),
    ],
    ids=["absent", "malformed", "not-bearer"],
)
async def test_without_a_valid_token_it_is_unauthenticated(
    running: Running, metadata: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.GetMe(pb.GetMeRequest(), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == message


async def test_a_claimed_identity_is_not_an_identity(running: Running, fake_wechat: FakeWeChat) -> None:
    """The attack: a direct call naming a user in metadata, or with a token signed by another key."""
    login = await running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code()))
    victim = running.verify(login.token)["sub"]
    forged = SigningKey(kid=running.verify_kid(login.token)).token(sub=victim)  # same kid, another key
    for metadata in ((("x-user-id", victim),), (("authorization", f"Bearer {forged}"),)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.stub.GetMe(pb.GetMeRequest(), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata


async def test_an_unknown_caller_is_not_found(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.GetMe(pb.GetMeRequest(), metadata=running.as_user(str(uuid.uuid4())))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "user not found"
