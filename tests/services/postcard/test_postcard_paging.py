"""ListMyPostcards pages (AIP-158): sizes from the contract, tokens bound to their caller and tamper-evident."""
from __future__ import annotations

import grpc
import pytest

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from tests.services.postcard.support import MakeSettings, Running, Serve, as_user
from tests.support.postcards import seed_postcards
from tests.support.violations import grpc_violations

SECRET = "s" * 32


async def page(running: Running, user: str, size: int = 0, token: str = "") -> pb.ListMyPostcardsResponse:
    request = pb.ListMyPostcardsRequest(page_size=size, page_token=token)
    return await running.stub.ListMyPostcards(request, metadata=as_user(user))


async def all_pages(running: Running, user: str, size: int, token: str = "") -> tuple[list[str], int]:
    """The ids of every page from `token` on (the first page when empty), and how many pages there were."""
    ids: list[str] = []
    pages = 0
    while True:
        answer = await page(running, user, size, token)
        ids += [summary.postcard_id for summary in answer.postcards]
        pages += 1
        if not answer.next_page_token:
            return ids, pages
        token = answer.next_page_token


async def test_pages_cover_the_list_once_in_order(running: Running) -> None:
    expected = seed_postcards(running.db_path, "alice", 23)
    seed_postcards(running.db_path, "bob", 5)

    ids, pages = await all_pages(running, "alice", 5)

    assert ids == expected and pages == 5  # newest first, ties by id: no duplicate, no gap
    assert (await page(running, "alice", 23)).next_page_token == ""  # no empty last page


async def test_page_sizes_are_the_contracts(running: Running) -> None:
    seed_postcards(running.db_path, "alice", 130)

    assert len((await page(running, "alice")).postcards) == 100  # unset: the default
    assert len((await page(running, "alice", 1000)).postcards) == 100  # larger: the maximum
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await page(running, "alice", -1)
    assert grpc_violations(raised.value) == [("page_size", "int32.gte")]


async def test_postcards_created_meanwhile_neither_repeat_nor_push_others_out(running: Running) -> None:
    expected = seed_postcards(running.db_path, "alice", 10)
    first = await page(running, "alice", 4)
    seed_postcards(running.db_path, "alice", 3, start=1_800_000_000.0)  # newer than all: before the first page

    rest, _ = await all_pages(running, "alice", 4, first.next_page_token)

    assert [s.postcard_id for s in first.postcards] + rest == expected


def _tampered(token: str) -> list[str]:
    """One character changed (the last one's unused bits too), cut, extended, replaced."""
    at = (0, len(token) // 2, len(token) - 1)
    flipped = [token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :] for i in at]
    return [*flipped, token[:-1], token + "A", "A" * len(token), "not-a-token"]


async def test_a_token_of_another_caller_or_tampered_is_invalid_argument(running: Running) -> None:
    seed_postcards(running.db_path, "alice", 5)
    token = (await page(running, "alice", 2)).next_page_token
    assert token

    for user, presented in [("bob", token), *(("alice", bad) for bad in _tampered(token))]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await page(running, user, 2, presented)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, presented
        assert raised.value.details() == "page_token: not a page token issued to this caller"
        assert grpc_violations(raised.value) == [("page_token", "page_token.issued")]


async def test_tokens_hold_across_processes_sharing_the_secret(make_settings: MakeSettings, serve: Serve) -> None:
    async with serve(make_settings(page_token_secret=SECRET)) as one:
        seed_postcards(one.db_path, "alice", 5)
        token = (await page(one, "alice", 2)).next_page_token
    async with serve(make_settings(page_token_secret=SECRET)) as same:
        assert len((await page(same, "alice", 2, token)).postcards) == 2
    async with serve(make_settings(page_token_secret="t" * 32)) as other:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await page(other, "alice", 2, token)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
