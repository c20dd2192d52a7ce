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

from tests.e2e.conftest import VALID_POSTCARD, System, bearer
from tests.support.raw_http import exchange, request_bytes

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
    """Claims signed with the user-service's real key, as JSON of any shape (jwt.encode checks some types)."""
    private, kid = _real_key(system)
    payload = json.dumps(_claims(**overrides)).encode()
    return jwt.api_jws.encode(payload, private, algorithm="EdDSA", headers={"kid": kid, "typ": "JWT"})


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


# Claims of the wrong shape, validly signed: 401 naming the claim, and nothing done downstream.
BAD_AUD = "invalid aud claim: must be a string or a list of strings"
BAD_CLAIMS: list[tuple[str, dict[str, Any], str]] = [
    ("empty sub", {"sub": ""}, "invalid subject"),
    ("blank sub", {"sub": "   "}, "invalid subject"),
    ("whitespace sub", {"sub": "\t\n"}, "invalid subject"),
    ("sub with a space", {"sub": "user 1"}, "invalid subject"),
    ("non-ASCII sub", {"sub": "usér"}, "invalid subject"),
    ("sub too long", {"sub": "u" * 129}, "invalid subject"),
    ("numeric sub", {"sub": 42}, "invalid subject"),
    ("sub as a list", {"sub": ["victim"]}, "invalid subject"),
    ("exp as a bool", {"exp": True}, "invalid exp claim: must be a number"),
    ("exp as a string", {"exp": str(int(time.time()) + 600)}, "invalid exp claim: must be a number"),
    ("iat as a string", {"iat": str(int(time.time()))}, "invalid iat claim: must be a number"),
    ("iat as a bool", {"iat": True}, "invalid iat claim: must be a number"),
    ("nbf as a string", {"nbf": "0"}, "invalid nbf claim: must be a number"),
    ("iss as a number", {"iss": 1}, "invalid iss claim: must be a string"),
    ("aud with a number", {"aud": ["postcardapp-gateway", 1]}, BAD_AUD),
    ("aud as an object", {"aud": {"a": 1}}, BAD_AUD),
    ("jti as a number", {"jti": 7}, "invalid jti claim: must be a string"),
]


@pytest.mark.parametrize(("claims", "message"), [c[1:] for c in BAD_CLAIMS], ids=[c[0] for c in BAD_CLAIMS])
async def test_claims_of_the_wrong_shape_are_401(system: System, claims: dict[str, Any], message: str) -> None:
    token = _signed(system, **claims)
    tasks_before = system.count_rows("tasks")
    for response in (
        await system.http.get("/api/v1/users/me", headers=bearer(token)),
        await system.http.post("/api/v1/postcards/create", json=VALID_POSTCARD, headers=bearer(token)),
    ):
        assert response.status_code == 401, response.text
        assert response.json()["error"] == {"code": 401, "status": "UNAUTHENTICATED", "message": message, "details": []}
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert system.count_rows("tasks") == tasks_before


# Authorization header lists: ambiguous credentials are refused, optional whitespace is not.
AUTHORIZATION_CASES: list[tuple[str, Callable[[str], list[tuple[str, str]]], int]] = [
    ("one header", lambda t: [("authorization", f"Bearer {t}")], 202),
    ("trailing space", lambda t: [("authorization", f"Bearer {t} ")], 202),
    ("trailing tab", lambda t: [("authorization", f"Bearer {t}\t")], 202),
    ("two spaces after the scheme", lambda t: [("authorization", f"Bearer  {t}")], 202),
    ("two headers, same token", lambda t: [("authorization", f"Bearer {t}"), ("authorization", f"Bearer {t}")], 400),
    ("two headers, valid first", lambda t: [("authorization", f"Bearer {t}"), ("authorization", "Bearer a.b.c")], 400),
    ("two headers, valid second", lambda t: [("authorization", "Bearer a.b.c"), ("authorization", f"Bearer {t}")], 400),
    ("valid and empty", lambda t: [("authorization", f"Bearer {t}"), ("authorization", "")], 400),
]


@pytest.mark.parametrize(
    ("headers", "status"), [c[1:] for c in AUTHORIZATION_CASES], ids=[c[0] for c in AUTHORIZATION_CASES]
)
async def test_authorization_headers(
    system: System, headers: Callable[[str], list[tuple[str, str]]], status: int
) -> None:
    token = await system.login()
    tasks_before = system.count_rows("tasks")
    # Raw HTTP: client libraries refuse to send a header value with trailing whitespace.
    request = request_bytes(
        "POST", "/api/v1/postcards/create", [*headers(token), ("content-type", "application/json")],
        json.dumps(VALID_POSTCARD).encode(),
    )  # fmt: skip
    response = await exchange(system.base_url, request)
    assert response.status == status, response.body
    if status == 400:
        assert response.json()["error"] == {
            "code": 400, "status": "INVALID_ARGUMENT", "message": "send one Authorization header, not several",
            "details": [],
        }  # fmt: skip
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_request"')
        assert system.count_rows("tasks") == tasks_before
    else:
        assert system.count_rows("tasks") == tasks_before + 1
