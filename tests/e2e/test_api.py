"""The REST contract of DESIGN.md, exactly: paths, status codes and JSON shapes."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.e2e.conftest import BLOCKED_WORD, VALID_POSTCARD, System, bearer

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_login_new_then_returning(system: System) -> None:
    first = await system.http.post("/api/v1/users/login", json={"code": "code-of-ann"})
    assert first.status_code == 200
    assert set(first.json()) == {"token", "is_new_user"}
    assert first.json()["is_new_user"] is True
    again = await system.http.post("/api/v1/users/login", json={"code": "code-of-ann"})
    assert again.json()["is_new_user"] is False  # false is sent, not omitted


async def test_login_with_a_code_wechat_rejects(system: System) -> None:
    system.wechat.accept_any_code = False
    try:
        response = await system.http.post("/api/v1/users/login", json={"code": "not-issued"})
    finally:
        system.wechat.accept_any_code = True
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_me(system: System) -> None:
    token = await system.login()
    me = await system.http.get("/api/v1/users/me", headers=bearer(token))
    assert me.status_code == 200
    assert set(me.json()) >= {"user_id", "created_at"}


async def test_create_poll_get_image_list(system: System) -> None:
    token = await system.login()
    created = await system.http.post(
        "/api/v1/postcards/create", json={**VALID_POSTCARD, "message": "Happy birthday!"}, headers=bearer(token)
    )
    assert created.status_code == 202
    assert list(created.json()) == ["task_id"]
    task_id = created.json()["task_id"]

    done = await system.wait_done(token, task_id)
    assert set(done) == {"status", "data"}
    assert done["status"] == "completed"
    postcard = done["data"]
    postcard_id = postcard["postcard_id"]
    assert postcard["image_url"] == f"/api/v1/postcards/{postcard_id}/image"
    assert {postcard[k] for k in ("mood", "style", "theme")} == set(VALID_POSTCARD.values())
    assert postcard["frontend_code"]

    single = await system.http.get(f"/api/v1/postcards/{postcard_id}", headers=bearer(token))
    assert single.status_code == 200
    assert single.json() == postcard

    image = await system.http.get(postcard["image_url"], headers=bearer(token))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/svg+xml"
    assert ET.fromstring(image.content).tag.endswith("svg")

    mine = await system.http.get("/api/v1/postcards/me", headers=bearer(token))
    assert mine.status_code == 200
    assert isinstance(mine.json(), list)
    assert [p["postcard_id"] for p in mine.json()] == [postcard_id]
    assert mine.json()[0]["image_url"] == postcard["image_url"]


async def test_processing_then_failed_with_reason(system: System) -> None:
    token = await system.login()
    task_id = await system.create(token, theme=f"a {BLOCKED_WORD} theme")
    first = await system.http.get(f"/api/v1/postcards/status/{task_id}", headers=bearer(token))
    # Right after the 202 it is still processing, unless the worker was already quicker.
    assert first.json() == {"status": "processing"} or first.json()["status"] == "failed", first.json()
    done = await system.wait_done(token, task_id)
    assert set(done) == {"status", "error"}
    assert done["status"] == "failed"
    assert "moderation" in done["error"]


async def test_empty_list_is_a_bare_array(system: System) -> None:
    token = await system.login()
    mine = await system.http.get("/api/v1/postcards/me", headers=bearer(token))
    assert mine.status_code == 200
    assert mine.json() == []


async def test_idempotency_key_crosses_the_gateway(system: System) -> None:
    token = await system.login()
    headers = {**bearer(token), "idempotency-key": "create-once-1"}
    first = await system.http.post("/api/v1/postcards/create", json=VALID_POSTCARD, headers=headers)
    second = await system.http.post("/api/v1/postcards/create", json=VALID_POSTCARD, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()


async def test_unknown_ids_are_404(system: System) -> None:
    token = await system.login()
    for path in ("/api/v1/postcards/status/nope", "/api/v1/postcards/nope", "/api/v1/postcards/nope/image"):
        response = await system.http.get(path, headers=bearer(token))
        assert response.status_code == 404, path
        assert response.json()["error"]["status"] == "NOT_FOUND"
