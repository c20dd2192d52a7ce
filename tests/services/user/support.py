"""Helpers the user-service tests share: a running server's handle and token verification.

"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt

from postcardapp.user.v1 import user_service_pb2_grpc as pb_grpc
from services.common.server import ServiceServer
from services.user.keys import load_signing_key
from services.user.settings import UserServiceSettings
from services.user.tokens import TokenIssuer

REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti"]


@dataclass
class Running:
    """A started user-service and a client channel to it."""

    server: ServiceServer
    port: int
    settings: UserServiceSettings
    channel: grpc.aio.Channel
    stub: pb_grpc.UserServiceStub

    def user_count(self) -> int:
        return count_users(self.settings.resolved_db_path)

    def verify(self, token: str) -> dict[str, Any]:
        return verify_with_jwks(token, self.settings)

    def verify_kid(self, token: str) -> str:
        return str(jwt.get_unverified_header(token)["kid"])

    def token(self, user_id: str) -> str:
        """A session token for `user_id` as this service would issue it (its own signing key)."""
        return TokenIssuer(load_signing_key(self.settings), self.settings.jwt).issue(user_id)

    def as_user(self, user_id: str) -> tuple[tuple[str, str], ...]:
        """Call metadata as the gateway sends it: the caller's bearer token."""
        return (("authorization", f"Bearer {self.token(user_id)}"),)


Serve = Callable[[UserServiceSettings], AbstractAsyncContextManager[Running]]
MakeSettings = Callable[..., UserServiceSettings]


def verify_with_jwks(token: str, settings: UserServiceSettings) -> dict[str, Any]:
    """Verify a token as the gateway will: the key from the JWKS file by kid, EdDSA only, strict claims."""
    jwks = jwt.PyJWKSet.from_dict(json.loads(settings.resolved_jwks_path.read_text()))
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(key for key in jwks.keys if key.key_id == kid)
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        audience=settings.jwt.audience,
        issuer=settings.jwt.issuer,
        options={"require": REQUIRED_CLAIMS},
    )


def count_users(db_path: Path) -> int:
    """Rows in the users table, read with a separate connection (as another process would)."""
    connection = sqlite3.connect(db_path)
    try:
        return connection.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        connection.close()
