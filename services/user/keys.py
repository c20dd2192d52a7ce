"""The token signing key (Ed25519, private) and the public keys published as a JWKS document.

The private key stays in this service. The gateway reads only the JWKS file and picks the key by
the token's ``kid``, which is the RFC 7638 thumbprint of the public key: it is derived, never
configured, so two keys cannot share a kid by mistake.

Rotation: make the new key the signing key and list the old key file in
``jwt.extra_public_key_paths``; both are published, so tokens signed before the switch verify until
they expire. Then drop the old file from the list.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.config import ConfigError
from services.user.settings import UserServiceSettings, env_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    kid: str


def load_signing_key(settings: UserServiceSettings) -> SigningKey:
    """The private key from ``jwt.private_key_path`` (default ``<state_dir>/jwt-signing-key.pem``).

    A missing file is a ConfigError naming the variables to set, unless ``jwt.generate_dev_key`` is
    on: then a new key is written there (mode 0600) and reused by every later start. Two processes
    starting at once end up with the same key (the file is linked into place, never overwritten).
    """
    path = settings.resolved_private_key_path
    if not path.exists():
        if not settings.jwt.generate_dev_key:
            where = "is not set" if settings.jwt.private_key_path is None else f"points to a missing file ({path})"
            raise ConfigError(
                f"{env_name('jwt', 'private_key_path')} {where}: it must name an Ed25519 private key in PEM "
                f"(create one with `openssl genpkey -algorithm ed25519 -out key.pem`); for local development "
                f"only, set {env_name('jwt', 'generate_dev_key')}=true to generate one in the state directory"
            )
        if _create_key_file(path):
            log.warning("generated a development JWT signing key", extra={"path": str(path)})
    if path.stat().st_mode & 0o077:
        log.warning("the JWT private key file is readable by other users", extra={"path": str(path)})
    key = _load_pem(path, private=True)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} ({env_name('jwt', 'private_key_path')}) is not an Ed25519 private key")
    return SigningKey(key, kid_for(key.public_key()))


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file holding either the public or the private key."""
    if not path.is_file():
        raise ConfigError(f"{path} ({env_name('jwt', 'extra_public_key_paths')}) does not exist")
    try:
        key = _load_pem(path, private=False)
    except ConfigError:
        try:
            key = _load_pem(path, private=True)
        except ConfigError:
            raise ConfigError(
                f"{path} ({env_name('jwt', 'extra_public_key_paths')}) holds no PEM public or private key"
            ) from None
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} ({env_name('jwt', 'extra_public_key_paths')}) is not an Ed25519 key")
    return key


def kid_for(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the required members, sorted, no whitespace; base64url."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw(public_key))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The JWK (RFC 8037) of an Ed25519 public key, with its kid, alg and use."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw(public_key)),
        "kid": kid_for(public_key),
        "alg": "EdDSA",
        "use": "sig",
    }


def jwks_document(settings: UserServiceSettings, signing_key: SigningKey) -> dict[str, Any]:
    """The JWKS of the signing key and the extra public keys: the signing key first, each key once."""
    keys = [signing_key.private_key.public_key()]
    keys += [load_public_key(path) for path in settings.jwt.extra_public_key_paths]
    unique: dict[str, Ed25519PublicKey] = {}
    for key in keys:
        unique.setdefault(kid_for(key), key)
    return {"keys": [public_jwk(key) for key in unique.values()]}


def publish_jwks(settings: UserServiceSettings, signing_key: SigningKey) -> Path:
    """Write `jwks_document` to ``jwt.jwks_path``; return the path.

    The file is replaced atomically, so a reader sees the old or the new document.
    """
    document = jwks_document(settings, signing_key)
    path = settings.resolved_jwks_path
    _write_atomically(path, json.dumps(document, indent=2).encode() + b"\n", mode=0o644)
    log.info("published JWKS", extra={"path": str(path), "kids": [jwk["kid"] for jwk in document["keys"]]})
    return path


def _create_key_file(path: Path) -> bool:
    """Write a new private key to ``path`` unless one appears meanwhile; True if this call wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # 0600 from the first byte: the key is never readable by others, not even briefly.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        # link, unlike rename, fails when the target exists: a concurrent first run keeps its key.
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as file:
        temp = Path(file.name)
        try:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
            os.fchmod(file.fileno(), mode)  # the JWKS is public: readable by the gateway's user
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _load_pem(path: Path, *, private: bool) -> object:
    data = path.read_bytes()
    try:
        if private:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        kind = "an unencrypted private key" if private else "a public key"
        raise ConfigError(f"{path} is not {kind} in PEM format") from exc


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
