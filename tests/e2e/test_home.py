"""GET /api/v1/home against the whole system: the real services, real logins, real postcards."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import System, bearer

pytestmark = pytest.mark.asyncio(loop_scope="package")

HOME = "/api/v1/home"


async def made(system: System, token: str, count: int) -> list[str]:
    """Postcard ids, in the order they were made (each finished before the next: distinct creation times)."""
    ids = []
    for i in range(count):
        done = await system.wait_done(token, await system.create(token, theme=f"card {i}"))
        assert done["status"] == "completed", done
        ids.append(done["data"]["postcard_id"])
    return ids


async def test_home_is_the_callers_profile_and_newest_postcards(system: System) -> None:
    token = await system.login()
    first = await system.http.get(HOME, headers=bearer(token))
    assert first.status_code == 200, first.text
    me = (await system.http.get("/api/v1/users/me", headers=bearer(token))).json()
    assert first.json() == {"user": me, "recent_postcards": [], "errors": []}
    assert first.headers["cache-control"] == "no-store"

    ids = await made(system, token, 6)
    mine = (await system.http.get("/api/v1/postcards/me", headers=bearer(token))).json()
    home = (await system.http.get(HOME, headers=bearer(token))).json()
    assert (home["user"], home["errors"]) == (me, [])
    assert home["recent_postcards"] == mine[:5]  # the default limit: the first 5 of the contract's list
    assert [p["postcard_id"] for p in home["recent_postcards"]] == ids[::-1][:5]  # newest first
    assert set(home["recent_postcards"][0]) >= {"postcard_id", "image_url", "mood", "style", "theme", "created_at"}

    for limit, expected in [(1, ids[-1:]), (2, ids[:-3:-1]), (20, ids[::-1])]:
        limited = await system.http.get(HOME, params={"limit": limit}, headers=bearer(token))
        assert [p["postcard_id"] for p in limited.json()["recent_postcards"]] == expected, limit


async def test_home_lists_only_the_callers_postcards(system: System) -> None:
    ann, bob = await system.login(), await system.login()
    (anns,) = await made(system, ann, 1)
    (bobs,) = await made(system, bob, 1)
    for token, own, other in [(ann, anns, bobs), (bob, bobs, anns)]:
        home = (await system.http.get(HOME, params={"limit": 20}, headers=bearer(token))).json()
        listed = [p["postcard_id"] for p in home["recent_postcards"]]
        assert listed == [own], (listed, other)
        me = (await system.http.get("/api/v1/users/me", headers=bearer(token))).json()
        assert home["user"]["user_id"] == me["user_id"]


@pytest.mark.parametrize("limit", ["0", "21", "five"])
async def test_a_bad_limit_is_400(system: System, limit: str) -> None:
    token = await system.login()
    response = await system.http.get(HOME, params={"limit": limit}, headers=bearer(token))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"], error["details"]) == (400, "INVALID_ARGUMENT", [])
    assert "limit" in error["message"]


async def test_no_token_is_401(system: System) -> None:
    response = await system.http.get(HOME)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "error": {"code": 401, "status": "UNAUTHENTICATED", "message": "missing bearer token", "details": []}
    }
