"""Bad input is rejected with the right status, names the field, and stores nothing."""
from __future__ import annotations

import grpc
import pytest

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from tests.services.postcard.support import VALID_FIELDS, Running, as_user, count_rows


def assert_nothing_stored(running: Running) -> None:
    for table in ("tasks", "queue", "postcards"):
        assert count_rows(running.db_path, table) == 0, table


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mood", ""),
        ("style", "   \t "),
        ("theme", "t" * 10_000),
        ("recipient", "r" * 51),
        ("message", "m" * 501),
        ("mood", "ha\x00ppy"),
        ("theme", "line\nbreak"),
    ],
)
async def test_invalid_field_is_invalid_argument(running: Running, field: str, value: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.create("alice", **{field: value})

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith(f"{field}:")
    assert_nothing_stored(running)


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
    ("ident", "code"),
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("  ", grpc.StatusCode.INVALID_ARGUMENT),
        ("x" * 65, grpc.StatusCode.INVALID_ARGUMENT),
        ("x" * 64, grpc.StatusCode.NOT_FOUND),
        ("not-a-uuid", grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_ids_are_checked(running: Running, ident: str, code: grpc.StatusCode) -> None:
    md = as_user("alice")
    calls = [
        running.stub.GetTaskStatus(pb.GetTaskStatusRequest(task_id=ident), metadata=md),
        running.stub.GetPostcard(pb.GetPostcardRequest(postcard_id=ident), metadata=md),
        running.stub.GetPostcardImage(pb.GetPostcardImageRequest(postcard_id=ident), metadata=md),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == code
