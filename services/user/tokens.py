"""Session tokens: JWTs signed with the service's Ed25519 key (alg EdDSA).

Claims: ``iss`` and ``aud`` from the settings, ``sub`` the user_id (never the WeChat open_id, which
is a personal identifier and not ours to hand out), ``iat``/``exp`` in whole seconds, ``jti`` a
random id (lets a future deny-list revoke one token). The header's ``kid`` names the public key in
the JWKS that verifies it.
"""
from __future__ import annotations

import time
import uuid

import jwt

from services.user.keys import SigningKey
from services.user.settings import JwtSettings

ALGORITHM = "EdDSA"


class TokenIssuer:
    """Signs session tokens for users; holds the only reference to the private key."""

    def __init__(self, key: SigningKey, settings: JwtSettings) -> None:
        self._key = key
        self._issuer = settings.issuer
        self._audience = settings.audience
        self._ttl = settings.ttl_seconds

    @property
    def kid(self) -> str:
        return self._key.kid

    def issue(self, user_id: str, *, now: float | None = None) -> str:
        """A token for ``user_id``, valid from ``now`` (default: the current time) for the TTL."""
        issued_at = int(time.time() if now is None else now)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "iat": issued_at,
            "exp": issued_at + self._ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key.private_key, algorithm=ALGORITHM, headers={"kid": self._key.kid})
