"""Real Ed25519-signed JWTs for the load, and the JWKS file the gateway verifies them with.

The signing key is the tests' own (`tests.support.keys.SigningKey`: a fresh
key pair, the user-service's issuer and audience), so the gateway does the
same verification work as in production.
"""
from __future__ import annotations

from pathlib import Path

from tests.support.keys import SigningKey

TOKEN_TTL_SECONDS = 6 * 3600  # longer than any run: no token expires mid-run


class Tokens:
    def __init__(self, folder: Path) -> None:
        self._key = SigningKey()
        self.jwks_path = self._key.write_jwks(folder / "jwks.json")

    def token(self, user: str = "bench-user-0") -> str:
        return self._key.token(sub=user, ttl=TOKEN_TTL_SECONDS)

    def write_many(self, path: Path, count: int) -> Path:
        """`count` tokens of distinct users, one per line (for the memory run's wrk script)."""
        path.write_text("".join(self.token(f"bench-user-{i}") + "\n" for i in range(count)))
        return path
