"""The gateway over real HTTP against a real gRPC server of a contract it has never seen.

This is the proof of contract evolution: tests/protos holds a new annotated
service, compiled at test time; the gateway serves it from settings alone,
with no gateway code change, and documents it in /openapi.json.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import (
    AuthSettings,
    ContractSettings,
    HttpSettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from tests.support.contracts import ECHO_MODULE, ECHO_SERVICE
from tests.support.echo_server import start_echo_server
from tests.support.http_server import serve
from tests.support.keys import SigningKey


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
async def client(echo_routes: object, key: SigningKey, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    server, port = await start_echo_server()
    settings = Settings(
        http=HttpSettings(max_body_bytes=1024),
        auth=AuthSettings(jwks_path=key.write_jwks(tmp_path / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        contracts=ContractSettings(modules=[ECHO_MODULE]),
        upstreams={ECHO_SERVICE: UpstreamSettings(endpoints=[f"127.0.0.1:{port}"], timeout_seconds=1)},
    )
    try:
        async with serve(create_app(settings), settings.http) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            yield http
    finally:
        await server.stop(None)


async def test_new_contract_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/echo/7", params=[("text", "hi"), ("tags", "a"), ("tags", "b")])
    assert response.status_code == 200
    assert response.json() == {"request": {"count": 7, "text": "hi", "tags": ["a", "b"]}}
    assert response.headers["cache-control"] == "no-store"  # allowed trailer crosses ...
    assert "x-internal-secret" not in response.headers  # ... others do not


async def test_new_contract_is_documented(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "get" in document["paths"]["/test/v1/echo/{count}"]
    assert "post" in document["paths"]["/test/v1/echo/{count}:shout"]
    assert "patch" in document["paths"]["/test/v1/{item.name}"]


async def test_additional_binding_with_body_and_custom_status(client: httpx.AsyncClient) -> None:
    shout = await client.post("/test/v1/echo/3:shout", json={"text": "hey", "loud": True})
    assert shout.json() == {"request": {"count": 3, "text": "hey", "loud": True}}
    item = await client.patch("/test/v1/shelves/s1/items/i2", json={"title": "T", "labels": {"a": "b"}})
    assert item.status_code == 201
    assert item.json() == {"name": "shelves/s1/items/i2", "title": "T", "labels": {"a": "b"}}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "grpc_status"),
    [
        ("GET", "/test/v1/echo/x", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/test/v1/echo/1?nope=1", {}, 400, "INVALID_ARGUMENT"),
        ("POST", "/test/v1/echo/1:shout", {"content": b'{"text": ', "headers": {"content-type": "application/json"}},
         400, "INVALID_ARGUMENT"),
        ("POST", "/test/v1/echo/1:shout", {"json": {"txt": "x"}}, 400, "INVALID_ARGUMENT"),
        ("POST", "/test/v1/echo/1:shout", {"json": {"count": "many"}}, 400, "INVALID_ARGUMENT"),
        ("POST", "/test/v1/echo/1:shout", {"content": b"text=x", "headers": {"content-type": "text/plain"}},
         415, "INVALID_ARGUMENT"),
        ("POST", "/test/v1/echo/1:shout", {"json": {"text": "x" * 2000}}, 413, "OUT_OF_RANGE"),
        ("GET", "/test/v1/nothing", {}, 404, "NOT_FOUND"),
        ("DELETE", "/test/v1/echo/1", {}, 405, "UNIMPLEMENTED"),
        ("GET", "/test/v1/echo/1?text=fail-not-found", {}, 404, "NOT_FOUND"),
        ("GET", "/test/v1/echo/1?text=slow", {}, 504, "DEADLINE_EXCEEDED"),
    ],
)  # fmt: skip
async def test_errors_have_one_shape(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict, status: int, grpc_status: str
) -> None:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == status
    assert body["error"]["status"] == grpc_status
    assert body["error"]["message"]
    assert body["error"]["details"] == []
    if status == 405:
        assert response.headers["allow"] == "GET, HEAD"


async def test_chunked_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(100):
            yield b"x" * 100

    response = await client.post(
        "/test/v1/echo/1:shout", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_chunked_body_without_content_type_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "hi"}'

    response = await client.post("/test/v1/echo/1:shout", content=chunks())
    assert "content-length" not in response.request.headers and "content-type" not in response.request.headers
    assert response.status_code == 415
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_internal_messages_do_not_leak(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/echo/1", params={"text": "fail-internal"})
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "internal error"
    assert "hunter2" not in response.text


async def test_identity_comes_only_from_the_token(client: httpx.AsyncClient, key: SigningKey) -> None:
    token = key.token(sub="alice")
    response = await client.get(
        "/test/v1/whoami", headers={"authorization": f"Bearer {token}", "x-user-id": "mallory", "cookie": "c=1"},
    )
    assert response.status_code == 200
    metadata = response.json()["metadata"]
    # The verified token is what names the caller to the service (which verifies it again); no claimed identity.
    assert metadata["authorization"] == f"Bearer {token}"
    assert "x-user-id" not in metadata and "cookie" not in metadata


async def test_unauthenticated_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/whoami", headers={"x-user-id": "mallory"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_request_id_is_kept_generated_and_forwarded(client: httpx.AsyncClient, key: SigningKey) -> None:
    auth = {"authorization": f"Bearer {key.token()}"}
    kept = await client.get("/test/v1/whoami", headers={**auth, "x-request-id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    assert kept.json()["metadata"]["x-request-id"] == "abc-123"
    replaced = await client.get("/test/v1/whoami", headers={**auth, "x-request-id": "bad id\twith spaces"})
    generated = replaced.headers["x-request-id"]
    assert generated != "bad id\twith spaces" and len(generated) == 32
    assert replaced.json()["metadata"]["x-request-id"] == generated
    missing = await client.get("/test/v1/nothing")
    assert len(missing.headers["x-request-id"]) == 32


async def test_authenticated_answers_are_never_cached(client: httpx.AsyncClient, key: SigningKey) -> None:
    response = await client.get("/test/v1/whoami", headers={"authorization": f"Bearer {key.token()}"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"  # the backend's "public, max-age=600" is overridden


async def test_public_answers_keep_their_backends_caching(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/echo/1", params={"text": "cacheable"})
    assert response.headers["cache-control"] == "public, max-age=60"


@pytest.mark.parametrize("path", ["/test/v1/echo/7?text=hi", "/test/v1/nothing", "/openapi.json"])
async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient, path: str) -> None:
    get = await client.get(path)
    head = await client.head(path)
    assert head.status_code == get.status_code
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert head.headers["content-type"] == get.headers["content-type"]
