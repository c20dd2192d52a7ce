"""Tokens verify with the published JWKS; keys are loaded, generated once, rotated."""
from __future__ import annotations

import base64
import json
import stat
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from postcardapp.user.v1 import user_service_pb2 as pb
from services.user.keys import kid_for, public_jwk
from services.user.settings import UserServiceSettings
from tests.fakes.wechat import FakeWeChat
from tests.services.user.support import MakeSettings, Running, Serve, verify_with_jwks

# RFC 8037, appendix A.1-A.3: an Ed25519 key pair and its RFC 7638 thumbprint.
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def write_private_key(path: Path, key: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    key = key or Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return key


def write_public_key(path: Path, key: Ed25519PrivateKey) -> None:
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def sign(key: Ed25519PrivateKey, kid: str) -> str:
    """A token like ours, for sub "u-1", signed by ``key`` under ``kid``."""
    now = int(time.time())
    claims = {"iss": "postcardapp-user-service", "aud": "postcardapp-gateway", "sub": "u-1", "iat": now,
              "exp": now + 60, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def jwks_kids(running: Running) -> list[str]:
    return [jwk["kid"] for jwk in json.loads(running.settings.resolved_jwks_path.read_text())["keys"]]


def test_kid_is_the_rfc7638_thumbprint() -> None:
    key = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(RFC8037_D + "="))
    assert public_jwk(key.public_key()) == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8037_X,
        "kid": RFC8037_THUMBPRINT,
        "alg": "EdDSA",
        "use": "sig",
    }
    assert kid_for(key.public_key()) == RFC8037_THUMBPRINT


async def test_the_token_verifies_with_the_jwks_and_carries_the_required_claims(
    running: Running, fake_wechat: FakeWeChat
) -> None:
    before = int(time.time())
    answer = await running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code("o-carol")))

    header = jwt.get_unverified_header(answer.token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == jwks_kids(running)[0]
    claims = running.verify(answer.token)  # EdDSA only, iss, aud, exp and all claims required
    assert claims["iss"] == "postcardapp-user-service"
    assert claims["aud"] == "postcardapp-gateway"
    assert claims["sub"] != "o-carol" and uuid.UUID(claims["sub"])
    assert before <= claims["iat"] <= time.time()
    assert claims["exp"] - claims["iat"] == 7 * 24 * 3600
    other = await running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code("o-carol")))
    assert running.verify(other.token)["jti"] != claims["jti"]


async def test_the_jwks_document_holds_public_keys_only(running: Running) -> None:
    path = running.settings.resolved_jwks_path
    assert path == running.settings.state_dir / "jwks.json"
    document = json.loads(path.read_text())
    assert [set(jwk) for jwk in document["keys"]] == [{"kty", "crv", "x", "kid", "alg", "use"}]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []  # no temp file left


async def test_the_dev_key_is_generated_once_private_and_reused(
    serve: Serve, settings: UserServiceSettings, fake_wechat: FakeWeChat
) -> None:
    async with serve(settings) as running:
        first_kid = jwks_kids(running)
        token = (await running.stub.Login(pb.LoginRequest(code=fake_wechat.issue_code()))).token
    key_file = settings.state_dir / "jwt-signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    async with serve(settings) as running:  # a restart: same key, so old tokens still verify
        assert jwks_kids(running) == first_kid
        assert running.verify(token)


async def test_a_configured_key_file_is_used(serve: Serve, make_settings: MakeSettings, tmp_path: Path) -> None:
    key = write_private_key(tmp_path / "signing.pem")
    settings = make_settings(jwt={"private_key_path": tmp_path / "signing.pem", "generate_dev_key": False})
    async with serve(settings) as running:
        assert jwks_kids(running) == [kid_for(key.public_key())]
    assert not (settings.state_dir / "jwt-signing-key.pem").exists()


async def test_rotation_publishes_retired_keys_so_their_tokens_still_verify(
    serve: Serve, make_settings: MakeSettings, tmp_path: Path
) -> None:
    retired_private = write_private_key(tmp_path / "retired.pem")
    retired_public = Ed25519PrivateKey.generate()
    write_public_key(tmp_path / "retired.pub.pem", retired_public)
    current = write_private_key(tmp_path / "current.pem")
    settings = make_settings(
        jwt={
            "private_key_path": tmp_path / "current.pem",
            # A private or a public PEM; the current key listed again is published once.
            "extra_public_key_paths": [tmp_path / name for name in ("retired.pem", "retired.pub.pem", "current.pem")],
        }
    )
    async with serve(settings) as running:
        assert jwks_kids(running) == [
            kid_for(current.public_key()),  # the signing key first
            kid_for(retired_private.public_key()),
            kid_for(retired_public.public_key()),
        ]
        old_token = sign(retired_private, kid_for(retired_private.public_key()))
    assert verify_with_jwks(old_token, settings)["sub"] == "u-1"


async def test_a_token_signed_by_an_unpublished_key_does_not_verify(running: Running) -> None:
    stranger = Ed25519PrivateKey.generate()
    token = sign(stranger, kid=jwks_kids(running)[0])  # claims to be signed by our key
    with pytest.raises(jwt.InvalidSignatureError):
        running.verify(token)
