"""Attacks on authentication and ownership, through the real gateway and services.

Forged tokens are signed with the user-service's real private key where the
attack needs a valid signature (expired, wrong issuer, wrong audience), so the
gateway's claim checks, not the signature, are what reject them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from tests.e2e.conftest import System, bearer

pytestmark = pytest.mark.asyncio(loop_scope="package")

PROTECTED = "/api/v1/postcards/me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _real_key(system: System) -> tuple[Any, str]:
    private = load_pem_private_key((system.user_state_dir / "jwt-signing-key.pem").read_bytes(), password=None)
    kid = json.loads((system.user_state_dir / "jwks.json").read_text())["keys"][0]["kid"]
    return private, kid


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "postcardapp-user-service", "aud": "postcardapp-gateway", "sub": "victim", "iat": now,
              "exp": now + 600}  # fmt: skip
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _signed(system: System, **overrides: Any) -> str:
    private, kid = _real_key(system)
    return jwt.encode(_claims(**overrides), private, algorithm="EdDSA", headers={"kid": kid})


def _alg_none(system: System) -> str:
    _, kid = _real_key(system)
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{_b64(json.dumps(_claims()).encode())}."


def _hs256_with_public_key(system: System) -> str:
    private, kid = _real_key(system)
    public = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _unknown_kid(system: System) -> str:
    private, _ = _real_key(system)
    return jwt.encode(_claims(), private, algorithm="EdDSA", headers={"kid": "not-a-published-key"})


async def _tampered(system: System) -> str:
    token = await system.login()
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "victim"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


ATTACKS: dict[str, Callable[[System], str]] = {
    "alg none": _alg_none,
    "HS256 signed with the public key": _hs256_with_public_key,
    "expired": lambda s: _signed(s, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "wrong iss": lambda s: _signed(s, iss="https://evil.example"),
    "wrong aud": lambda s: _signed(s, aud="another-service"),
    "no exp": lambda s: _signed(s, exp=None),
    "unknown kid": _unknown_kid,
}


@pytest.mark.parametrize("attack", ATTACKS)
async def test_forged_tokens_are_401(system: System, attack: str) -> None:
    response = await system.http.get(PROTECTED, headers=bearer(ATTACKS[attack](system)))
    assert response.status_code == 401, (attack, response.text)
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_tampered_payload_is_401(system: System) -> None:
    response = await system.http.get(PROTECTED, headers=bearer(await _tampered(system)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer a.b"])
async def test_no_bearer_is_401(system: System, header: str | None) -> None:
    headers = {} if header is None else {"authorization": header}
    response = await system.http.get(PROTECTED, headers=headers)
    assert response.status_code == 401
    if not header:
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_valid_token_passes(system: System) -> None:
    # The forging helpers are only meaningful if the same key, untouched, is accepted.
    response = await system.http.get(PROTECTED, headers=bearer(_signed(system, sub="someone")))
    assert response.status_code == 200


async def test_client_sent_identity_is_ignored(system: System) -> None:
    victim = await system.login()
    victim_task = await system.create(victim)
    victim_id = (await system.http.get("/api/v1/users/me", headers=bearer(victim))).json()["user_id"]
    attacker = await system.login()
    spoof = {**bearer(attacker), "x-user-id": victim_id}
    status = await system.http.get(f"/api/v1/postcards/status/{victim_task}", headers=spoof)
    assert status.status_code == 404
    me = await system.http.get("/api/v1/users/me", headers=spoof)
    assert me.json()["user_id"] != victim_id
    anonymous = await system.http.get("/api/v1/postcards/me", headers={"x-user-id": victim_id})
    assert anonymous.status_code == 401


async def test_ownership_task_postcard_and_image(system: System) -> None:
    alice = await system.login()
    bob = await system.login()
    task_id = await system.create(alice)
    postcard_id = (await system.wait_done(alice, task_id))["data"]["postcard_id"]
    for path in (
        f"/api/v1/postcards/status/{task_id}",
        f"/api/v1/postcards/{postcard_id}",
        f"/api/v1/postcards/{postcard_id}/image",
    ):
        assert (await system.http.get(path, headers=bearer(alice))).status_code == 200, path
        stolen = await system.http.get(path, headers=bearer(bob))
        assert stolen.status_code == 404, path
        assert stolen.json()["error"]["status"] == "NOT_FOUND"
    assert (await system.http.get("/api/v1/postcards/me", headers=bearer(bob))).json() == []
