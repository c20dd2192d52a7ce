"""GET /api/v1/postcards/me a page at a time through the whole system: Link headers, tokens bound to their caller."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import System, bearer
from tests.support.http_errors import assert_error
from tests.support.postcards import seed_postcards
from tests.support.violations import http_violations

pytestmark = pytest.mark.asyncio(loop_scope="package")

NEXT = re.compile(r'^<(/api/v1/postcards/me\?[^>]+)>; rel="next"$')


async def _user(system: System) -> tuple[str, str]:
    token = await system.login()
    me = await system.http.get("/api/v1/users/me", headers=bearer(token))
    return token, me.json()["user_id"]


async def _follow(system: System, token: str, url: str) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    while url:
        response = await system.http.get(url, headers=bearer(token))
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)  # the body is still the bare array
        ids += [summary["postcard_id"] for summary in response.json()]
        pages += 1
        link = response.headers.get("link")
        match = NEXT.match(link) if link else None
        assert link is None or match, link
        url = match.group(1) if match else ""
    return ids, pages


@pytest.mark.parametrize(("first_page", "pages"), [("/api/v1/postcards/me?page_size=40", 7),
                                                   ("/api/v1/postcards/me", 3)])
async def test_250_postcards_page_by_page_without_duplicates_or_gaps(
    system: System, first_page: str, pages: int
) -> None:
    token, user_id = await _user(system)
    expected = seed_postcards(system.postcard_db, user_id, 250)

    ids, followed = await _follow(system, token, first_page)

    assert ids == expected  # every postcard once, newest first
    assert followed == pages


async def test_a_token_of_another_user_or_tampered_is_400(system: System) -> None:
    token, user_id = await _user(system)
    seed_postcards(system.postcard_db, user_id, 3)
    link = (await system.http.get("/api/v1/postcards/me?page_size=1", headers=bearer(token))).headers["link"]
    next_url = NEXT.match(link).group(1)  # type: ignore[union-attr]
    page_token = next_url.split("page_token=")[1]
    other, _ = await _user(system)
    tampered = next_url[:-1] + ("A" if next_url[-1] != "A" else "B")

    for who, url in [(other, next_url), (token, tampered)]:
        response = await system.http.get(url, headers=bearer(who))
        error = assert_error(response, 400, "INVALID_ARGUMENT")
        assert error["message"] == "page_token: not a page token issued to this caller"
        assert http_violations({"error": error}) == [("page_token", "page_token.issued")]
    assert (await system.http.get(next_url, headers=bearer(token))).status_code == 200
    assert len(page_token) <= 256
