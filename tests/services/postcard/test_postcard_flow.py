"""End to end through gRPC with embedded workers: create -> completed, reads, failures, idempotency, ownership.

The tests of what workers do run on both queue backends (`both_backends`)."""
from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from tests.services.postcard.backends import QueueView, both_backends
from tests.services.postcard.support import Running, as_user, count_rows, query

SVG = "{http://www.w3.org/2000/svg}"


@both_backends
async def test_create_is_completed_by_a_worker_and_readable(running: Running, queue_view: QueueView) -> None:
    task_id = await running.create("alice", theme="Sunset <over> the bay & more", message="See you {{soon}}!")

    status = await running.wait_finished("alice", task_id)

    assert status.status == "completed", status
    assert not status.error
    card = status.data
    assert card.task_id == task_id
    assert card.image_url == f"/api/v1/postcards/{card.postcard_id}/image"
    assert (card.mood, card.style, card.theme, card.recipient, card.message) == (
        "happy", "watercolour", "Sunset <over> the bay & more", "Mia", "See you {{soon}}!",
    )
    assert card.created_at.seconds > 0
    assert card.image_url in card.frontend_code
    assert "&lt;over&gt;" in card.frontend_code and "<over>" not in card.frontend_code
    assert "{{" not in card.frontend_code

    fetched = await running.stub.GetPostcard(
        pb.GetPostcardRequest(postcard_id=card.postcard_id), metadata=as_user("alice")
    )
    assert fetched.postcard == card

    image = await running.stub.GetPostcardImage(
        pb.GetPostcardImageRequest(postcard_id=card.postcard_id), metadata=as_user("alice")
    )
    assert image.content_type == "image/svg+xml"
    root = ET.fromstring(image.data)
    assert root.tag == f"{SVG}svg"
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "Sunset <over> the bay & more" in texts

    listed = await running.stub.ListMyPostcards(pb.ListMyPostcardsRequest(), metadata=as_user("alice"))
    assert [(s.postcard_id, s.image_url, s.theme) for s in listed.postcards] == [
        (card.postcard_id, card.image_url, card.theme)
    ]
    assert listed.postcards[0].created_at == card.created_at
    assert queue_view.unfinished() == 0


async def test_list_is_newest_first(running: Running) -> None:
    first = await running.create("alice", theme="first")
    assert (await running.wait_finished("alice", first)).status == "completed"
    second = await running.create("alice", theme="second")
    assert (await running.wait_finished("alice", second)).status == "completed"

    listed = await running.stub.ListMyPostcards(pb.ListMyPostcardsRequest(), metadata=as_user("alice"))

    assert [summary.theme for summary in listed.postcards] == ["second", "first"]


@both_backends
async def test_moderation_rejection_fails_the_task_with_its_reason(running: Running, queue_view: QueueView) -> None:
    task_id = await running.create("alice", message="This is a SCAM, send money")

    status = await running.wait_finished("alice", task_id)

    assert status.status == "failed"
    assert status.error == "content rejected by moderation: message contains a blocked word"
    assert not status.HasField("data")
    assert count_rows(running.db_path, "postcards") == 0
    assert queue_view.unfinished() == 0


async def test_same_idempotency_key_returns_the_same_task(running: Running) -> None:
    first = await running.create("alice", idempotency_key="key-1")
    again = await running.create("alice", idempotency_key="key-1")
    other_key = await running.create("alice", idempotency_key="key-2")
    other_user = await running.create("bob", idempotency_key="key-1")

    assert first == again
    assert len({first, other_key, other_user}) == 3
    assert count_rows(running.db_path, "tasks") == 3


@both_backends
async def test_concurrent_creates_with_one_key_make_one_task(running: Running) -> None:
    task_ids = await asyncio.gather(*(running.create("alice", idempotency_key="burst") for _ in range(10)))

    assert len(set(task_ids)) == 1
    assert query(running.db_path, "SELECT task_id FROM tasks") == [(task_ids[0],)]
    assert (await running.wait_finished("alice", task_ids[0])).status == "completed"
    assert count_rows(running.db_path, "postcards") == 1


async def test_reused_key_with_a_different_body_is_failed_precondition(running: Running) -> None:
    task_id = await running.create("alice", idempotency_key="key-1", theme="one")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.create("alice", idempotency_key="key-1", theme="two")

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "idempotency-key" in (raised.value.details() or "")
    status = rpc_status.from_call(raised.value)  # the reason travels as an ErrorInfo detail
    info = error_details_pb2.ErrorInfo()
    assert status is not None and status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("IDEMPOTENCY_KEY_REUSED", "postcardapp")
    assert query(running.db_path, "SELECT task_id, theme FROM tasks") == [(task_id, "one")]


async def test_another_users_task_and_postcard_are_not_found(running: Running) -> None:
    task_id = await running.create("alice")
    card = (await running.wait_finished("alice", task_id)).data
    unknown_task = "00000000-0000-4000-8000-000000000000"

    calls = {
        "task": lambda user, ident: running.status(user, ident),
        "postcard": lambda user, ident: running.stub.GetPostcard(
            pb.GetPostcardRequest(postcard_id=ident), metadata=as_user(user)
        ),
        "image": lambda user, ident: running.stub.GetPostcardImage(
            pb.GetPostcardImageRequest(postcard_id=ident), metadata=as_user(user)
        ),
    }
    owned = {"task": task_id, "postcard": card.postcard_id, "image": card.postcard_id}
    for name, call in calls.items():
        details = []
        for ident in (owned[name], unknown_task):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call("bob", ident)
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND, name
            details.append(raised.value.details())
        # The same answer for "someone else's" and "does not exist": no existence oracle.
        assert details[0] == details[1], name

    listed = await running.stub.ListMyPostcards(pb.ListMyPostcardsRequest(), metadata=as_user("bob"))
    assert list(listed.postcards) == []
    assert (await running.status("alice", task_id)).status == "completed"
