"""Response headers for private data, HEAD, and an SVG that stays inert whatever the card says."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest
import pytest_asyncio

from tests.e2e.conftest import VALID_POSTCARD, System, bearer

pytestmark = pytest.mark.asyncio(loop_scope="package")

HOSTILE = {
    "theme": '<script>alert("theme")</script>',
    "recipient": "</text><script>alert(1)</script>",
    "message": '<svg onload="alert(1)"> & {{binding}} <![CDATA[x]]>',
}
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@dataclass
class Card:
    token: str
    task_id: str
    postcard_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="package")
async def card(system: System) -> Card:
    """A finished postcard whose text tries to inject markup into its SVG."""
    token = await system.login()
    task_id = await system.create(token, **HOSTILE)
    done = await system.wait_done(token, task_id)
    assert done["status"] == "completed", done
    return Card(token, task_id, done["data"]["postcard_id"])


@pytest_asyncio.fixture(scope="module", loop_scope="package")
async def quiet_card(system: System) -> Card:
    """A finished postcard of a user no other test writes for: their lists stay the same between two reads."""
    token = await system.login()
    task_id = await system.create(token)
    done = await system.wait_done(token, task_id)
    assert done["status"] == "completed", done
    return Card(token, task_id, done["data"]["postcard_id"])


# (case, method, path with {task}/{postcard}, authenticated, status, headers the response must carry)
RESPONSES: list[tuple[str, str, str, bool, int, dict[str, str]]] = [
    ("login (a token)", "POST", "/api/v1/users/login", False, 200, {"cache-control": "no-store"}),
    ("profile", "GET", "/api/v1/users/me", True, 200, {"cache-control": "no-store"}),
    ("create", "POST", "/api/v1/postcards/create", True, 202, {"cache-control": "no-store"}),
    ("status", "GET", "/api/v1/postcards/status/{task}", True, 200, {"cache-control": "no-store"}),
    ("postcard", "GET", "/api/v1/postcards/{postcard}", True, 200, {"cache-control": "no-store"}),
    ("list", "GET", "/api/v1/postcards/me", True, 200, {"cache-control": "no-store"}),
    ("home (hand-written)", "GET", "/api/v1/home", True, 200, {"cache-control": "no-store"}),
    ("image", "GET", "/api/v1/postcards/{postcard}/image", True, 200,
     {"cache-control": "no-store", "x-content-type-options": "nosniff", "content-security-policy": SVG_POLICY,
      "content-type": "image/svg+xml"}),
    ("not found", "GET", "/api/v1/postcards/nope", True, 404, {"cache-control": "no-store"}),
    ("unauthenticated", "GET", "/api/v1/postcards/me", False, 401, {"cache-control": "no-store"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "status", "headers"),
    [c[1:] for c in RESPONSES],
    ids=[c[0] for c in RESPONSES],
)
async def test_private_responses_are_never_stored(
    system: System, card: Card, method: str, path: str, authenticated: bool, status: int, headers: dict[str, str]
) -> None:
    body = {"code": "response-headers"} if path.endswith("login") else VALID_POSTCARD if method == "POST" else None
    response = await system.http.request(
        method,
        path.format(task=card.task_id, postcard=card.postcard_id),
        json=body,
        headers=bearer(card.token) if authenticated else {},
    )
    assert response.status_code == status, response.text
    assert {name: response.headers.get(name) for name in headers} == headers


@pytest.mark.parametrize(
    "path",
    ["/api/v1/users/me", "/api/v1/postcards/me", "/api/v1/postcards/{postcard}", "/api/v1/postcards/{postcard}/image",
     "/api/v1/postcards/nope", "/openapi.json", "/api/v1/home"],
)  # fmt: skip
async def test_head_is_get_without_a_body(system: System, quiet_card: Card, path: str) -> None:
    url = path.format(postcard=quiet_card.postcard_id)
    get = await system.http.get(url, headers=bearer(quiet_card.token))
    head = await system.http.head(url, headers=bearer(quiet_card.token))
    assert head.status_code == get.status_code
    assert head.content == b""
    same = ("content-type", "content-length", "cache-control", "content-security-policy")
    assert {h: head.headers.get(h) for h in same} == {h: get.headers.get(h) for h in same}


async def test_allow_lists_head_where_get_is_allowed(system: System) -> None:
    response = await system.http.delete("/api/v1/postcards/me")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD")


async def test_card_text_stays_escaped_in_the_svg(system: System, card: Card) -> None:
    image = await system.http.get(f"/api/v1/postcards/{card.postcard_id}/image", headers=bearer(card.token))
    svg = ET.fromstring(image.content)
    elements = {element.tag.rsplit("}", 1)[-1] for element in svg.iter()}
    assert elements <= {"svg", "title", "defs", "linearGradient", "stop", "rect", "circle", "text"}
    assert not any(name.startswith("on") for element in svg.iter() for name in element.attrib)
    texts = " ".join(element.text or "" for element in svg.iter())
    assert '<script>alert("theme")</script>' in texts  # shown as text, not markup
