"""Bad input is rejected with the right status, names the field and the rule, and stores nothing.

The rules are the contract's (buf.validate annotations), checked before any method runs: the
refusal carries a google.rpc.BadRequest with a field violation per broken rule.
"""
from __future__ import annotations

import grpc
import pytest

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from tests.services.postcard.support import USER_SERVICE_KEY, VALID_FIELDS, Running, as_user, count_rows
from tests.support.keys import SigningKey
from tests.support.violations import grpc_violations


def assert_nothing_stored(running: Running) -> None:
    for table in ("tasks", "queue", "postcards"):
        assert count_rows(running.db_path, table) == 0, table


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("mood", "", "required"),
        ("style", "   \u3000 ", "string.pattern"),  # blank, ideographic space included
        ("theme", "t" * 10_000, "string.max_len"),
        ("recipient", "r" * 51, "string.max_len"),
        ("message", "m" * 501, "string.max_len"),
        ("mood", "ha\x00ppy", "string.pattern"),
        ("theme", "line\nbreak", "string.pattern"),
        ("message", "bell\x07", "string.pattern"),
        ("recipient", "\x85", "string.pattern"),  # a C1 control character
        ("message", "\uffff", "string.pattern"),  # XML cannot carry it
    ],
)
async def test_invalid_field_is_invalid_argument(running: Running, field: str, value: str, rule: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.create("alice", **{field: value})

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith(f"{field}:")
    assert grpc_violations(raised.value) == [(field, rule)]
    assert_nothing_stored(running)


async def test_every_violation_is_in_the_details(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.create("alice", mood="", style="s" * 51, message="\x00")

    assert raised.value.details() == "mood: value is required (and 2 more)"
    assert grpc_violations(raised.value) == [
        ("mood", "required"), ("style", "string.max_len"), ("message", "string.pattern")
    ]


async def test_multiline_message_is_allowed(running: Running) -> None:
    task_id = await running.create("alice", message="line one\r\n\tline two")

    assert (await running.wait_finished("alice", task_id)).status == "completed"


async def test_limits_count_characters_not_bytes(running: Running) -> None:
    task_id = await running.create(
        "alice", mood="喜" * 50, style="s" * 50, theme="海" * 200, recipient="r" * 50, message="愛\n" * 250
    )

    status = await running.wait_finished("alice", task_id)

    assert status.status == "completed"
    assert status.data.theme == "海" * 200


async def test_fields_are_stored_stripped(running: Running) -> None:
    task_id = await running.create("alice", mood="  calm  ", recipient="   ")

    card = (await running.wait_finished("alice", task_id)).data

    assert (card.mood, card.recipient) == ("calm", "")


async def test_missing_identity_is_unauthenticated_and_stores_nothing(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.stub.CreatePostcard(pb.CreatePostcardRequest(**VALID_FIELDS), metadata=as_user(None))

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert_nothing_stored(running)


@pytest.mark.parametrize(
    "call",
    [
        lambda stub, md: stub.GetTaskStatus(pb.GetTaskStatusRequest(task_id="t"), metadata=md),
        lambda stub, md: stub.ListMyPostcards(pb.ListMyPostcardsRequest(), metadata=md),
        lambda stub, md: stub.GetPostcard(pb.GetPostcardRequest(postcard_id="p"), metadata=md),
        lambda stub, md: stub.GetPostcardImage(pb.GetPostcardImageRequest(postcard_id="p"), metadata=md),
    ],
    ids=["GetTaskStatus", "ListMyPostcards", "GetPostcard", "GetPostcardImage"],
)
async def test_every_rpc_requires_identity(running: Running, call) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(running.stub, as_user(None))

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("key", ["k" * 201, "   "])
async def test_bad_idempotency_key_is_invalid_argument(running: Running, key: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.create("alice", idempotency_key=key)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "idempotency-key" in (raised.value.details() or "")
    assert_nothing_stored(running)


@pytest.mark.parametrize(
    ("ident", "code", "rule"),
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT, "required"),
        ("  ", grpc.StatusCode.INVALID_ARGUMENT, "string.pattern"),
        ("x" * 65, grpc.StatusCode.INVALID_ARGUMENT, "string.max_len"),
        ("id\x01", grpc.StatusCode.INVALID_ARGUMENT, "string.pattern"),
        ("x" * 64, grpc.StatusCode.NOT_FOUND, None),
        ("not-a-uuid", grpc.StatusCode.NOT_FOUND, None),  # the form of an id is not checked: unknown is unknown
    ],
)
async def test_ids_are_checked(running: Running, ident: str, code: grpc.StatusCode, rule: str | None) -> None:
    md = as_user("alice")
    calls = [
        ("task_id", running.stub.GetTaskStatus(pb.GetTaskStatusRequest(task_id=ident), metadata=md)),
        ("postcard_id", running.stub.GetPostcard(pb.GetPostcardRequest(postcard_id=ident), metadata=md)),
        ("postcard_id", running.stub.GetPostcardImage(pb.GetPostcardImageRequest(postcard_id=ident), metadata=md)),
    ]
    for field, call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == code
        if rule is not None:
            assert grpc_violations(raised.value) == [(field, rule)]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "missing bearer token"),
        ((("x-user-id", "alice"),), "missing bearer token"),  # a claimed identity is none
        ((("authorization", "Bearer " + SigningKey().token(sub="alice")),), "unknown signing key"),
        ((("authorization", "Bearer " + USER_SERVICE_KEY.token(sub="alice", ttl=-3600)),), "token expired"),
        ((("authorization", "Bearer " + USER_SERVICE_KEY.token(sub="alice", aud="elsewhere")),), "invalid audience"),
        ((("authorization", "Bearer " + USER_SERVICE_KEY.token(sub="u" * 129)),), "invalid subject"),
        ((("authorization", "Bearer a"), ("authorization", "Bearer b")), "send one Authorization header, not several"),
    ],
    ids=["none", "x-user-id", "other-key", "expired", "audience", "subject", "two"],
)
async def test_a_bad_identity_says_what_is_wrong(
    running: Running, metadata: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.stub.ListMyPostcards(pb.ListMyPostcardsRequest(), metadata=metadata)

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.details() == message
