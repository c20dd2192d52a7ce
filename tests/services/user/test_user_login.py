"""Login against the fake WeChat: users created once, codes checked, WeChat failures mapped."""
from __future__ import annotations

import asyncio
import json
import logging
import uuid

import grpc
import pytest

from postcardapp.user.v1 import user_service_pb2 as pb
from tests.fakes.wechat import FakeWeChat
from tests.services.user.support import MakeSettings, Running, Serve
from tests.support.violations import grpc_violations


async def login(running: Running, code: str) -> pb.LoginResponse:
    return await running.stub.Login(pb.LoginRequest(code=code))


async def login_error(running: Running, code: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(running, code)
    return caught.value


async def test_first_login_creates_the_user_and_the_next_finds_it(running: Running, fake_wechat: FakeWeChat) -> None:
    first = await login(running, fake_wechat.issue_code("o-alice"))
    second = await login(running, fake_wechat.issue_code("o-alice"))

    assert first.HasField("is_new_user") and first.is_new_user is True
    # False has explicit presence: it is on the wire, not just a default.
    assert second.HasField("is_new_user") and second.is_new_user is False
    assert pb.LoginResponse.FromString(second.SerializeToString()).HasField("is_new_user")
    subject = running.verify(first.token)["sub"]
    assert running.verify(second.token)["sub"] == subject
    assert uuid.UUID(subject).version == 4  # our id, not WeChat's open_id
    assert running.user_count() == 1


async def test_each_wechat_user_gets_their_own_user_id(running: Running, fake_wechat: FakeWeChat) -> None:
    alice = await login(running, fake_wechat.issue_code("o-alice"))
    bob = await login(running, fake_wechat.issue_code("o-bob"))
    assert alice.is_new_user and bob.is_new_user
    assert running.verify(alice.token)["sub"] != running.verify(bob.token)["sub"]
    assert running.user_count() == 2


async def test_the_exchange_sends_what_wechat_expects(running: Running, fake_wechat: FakeWeChat) -> None:
    code = fake_wechat.issue_code()
    await login(running, f"  {code} ")  # surrounding spaces are not part of the code (a line break breaks its rule)
    assert fake_wechat.requests == [
        {"appid": fake_wechat.appid, "secret": fake_wechat.secret, "js_code": code, "grant_type": "authorization_code"}
    ]


async def test_concurrent_first_logins_create_one_user(running: Running, fake_wechat: FakeWeChat) -> None:
    codes = [fake_wechat.issue_code("o-racer") for _ in range(12)]
    answers = await asyncio.gather(*(login(running, code) for code in codes))
    assert sum(answer.is_new_user for answer in answers) == 1
    assert len({running.verify(answer.token)["sub"] for answer in answers}) == 1
    assert running.user_count() == 1


@pytest.mark.parametrize(
    ("code", "rule"),
    [("", "required"), ("   ", "string.pattern"), ("\t\n", "string.pattern"), ("x" * 257, "string.max_len"),
     ("ab\x00c", "string.pattern")],
    ids=["empty", "spaces", "whitespace", "too-long", "control"],
)
async def test_a_blank_or_oversized_code_is_invalid_and_changes_nothing(
    running: Running, fake_wechat: FakeWeChat, code: str, rule: str
) -> None:
    error = await login_error(running, code)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith("code: ")
    assert grpc_violations(error) == [("code", rule)]  # google.rpc.BadRequest in the status details
    assert fake_wechat.requests == []  # WeChat is not even asked
    assert running.user_count() == 0


async def test_an_unknown_code_is_unauthenticated_and_stores_nothing(running: Running) -> None:
    error = await login_error(running, "not-a-code-wechat-issued")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "WeChat rejected the login code (invalid code)"
    assert running.user_count() == 0


async def test_a_used_code_is_unauthenticated(running: Running, fake_wechat: FakeWeChat) -> None:
    code = fake_wechat.issue_code()
    await login(running, code)
    error = await login_error(running, code)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "code been used" in (error.details() or "")


@pytest.mark.parametrize(
    ("errcode", "status"),
    [
        (40029, grpc.StatusCode.UNAUTHENTICATED),  # invalid code
        (40163, grpc.StatusCode.UNAUTHENTICATED),  # code been used
        (40226, grpc.StatusCode.UNAUTHENTICATED),  # high risk user
        (-1, grpc.StatusCode.UNAVAILABLE),  # system busy
        (45011, grpc.StatusCode.UNAVAILABLE),  # rate limit
        (40125, grpc.StatusCode.UNAVAILABLE),  # invalid secret: our misconfiguration, not the client's
        (99999, grpc.StatusCode.UNAVAILABLE),  # anything else WeChat may invent
    ],
)
async def test_wechat_errcodes_map_to_grpc_status(
    running: Running, fake_wechat: FakeWeChat, errcode: int, status: grpc.StatusCode
) -> None:
    fake_wechat.reply_with_error(errcode, "some error")
    error = await login_error(running, fake_wechat.issue_code())
    assert error.code() == status
    assert running.user_count() == 0


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 502, "body": b"<html>Bad Gateway</html>"},
        {"status": 200, "body": b"<html>not json</html>"},
        {"status": 200, "json_body": ["not", "an", "object"]},
        {"status": 200, "json_body": {"session_key": "k"}},  # no openid
        {"status": 200, "json_body": {"openid": ""}},
        {"status": 200, "json_body": {"errcode": "busy"}},
    ],
    ids=["http-502", "html", "json-list", "no-openid", "empty-openid", "text-errcode"],
)
async def test_a_broken_wechat_answer_is_unavailable(
    running: Running, fake_wechat: FakeWeChat, reply: dict[str, object]
) -> None:
    fake_wechat.reply_with(**reply)  # type: ignore[arg-type]
    error = await login_error(running, fake_wechat.issue_code())
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert running.user_count() == 0


async def test_wechat_down_is_unavailable(running: Running, fake_wechat: FakeWeChat) -> None:
    code = fake_wechat.issue_code()
    fake_wechat.stop()
    error = await login_error(running, code)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "WeChat login is unavailable, try again later"
    assert running.user_count() == 0


async def test_wechat_too_slow_is_unavailable_within_the_timeout(
    serve: Serve, make_settings: MakeSettings, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.delay_seconds = 3600  # WeChat hangs; only the service's own timeout ends the call
    async with serve(make_settings(wechat={"timeout_seconds": 0.3})) as running:
        async with asyncio.timeout(60):
            error = await login_error(running, fake_wechat.issue_code())
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "WeChat login is unavailable, try again later"
        assert running.user_count() == 0


async def test_wrong_credentials_are_unavailable_and_never_echoed(
    serve: Serve, make_settings: MakeSettings, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(make_settings(wechat={"secret": "a-wrong-secret"})) as running:
        error = await login_error(running, fake_wechat.issue_code())
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "a-wrong-secret" not in (error.details() or "")
    assert "a-wrong-secret" not in _everything_logged(caplog)
    assert any(getattr(r, "errcode", None) == 40125 for r in caplog.records)  # the operator gets a clue


async def test_no_credential_or_session_key_reaches_the_logs(
    running: Running, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log requests at INFO and DEBUG
    await login(running, fake_wechat.issue_code())
    await login_error(running, "unknown-code")
    fake_wechat.reply_with_error(-1, "system error")
    await login_error(running, fake_wechat.issue_code())

    logged = _everything_logged(caplog)
    assert "jscode2session" in logged  # the requests were logged, just not their secrets
    for secret in [fake_wechat.appid, fake_wechat.secret, *fake_wechat.session_keys]:
        assert secret not in logged
    assert fake_wechat.session_keys  # the check above covered a real session key


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every message and every extra field of every captured record, as one string."""
    return "\n".join(
        record.getMessage() + json.dumps(record.__dict__, default=str) for record in caplog.records
    )
