"""Fixtures for the JWT tests: real keys, real JWKS files, a real local JWKS HTTP server, fake clocks."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from trust.settings import TokenSettings
from trust.tokens import JwtAuthenticator

ISSUER = "test-issuer"
AUDIENCE = "test-gateway"


@dataclass
class SigningKey:
    """A private key with its kid, as the user-service would hold it."""

    kid: str
    alg: str
    private: Any

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        to_jwk = {"EdDSA": OKPAlgorithm, "RS256": RSAAlgorithm, "ES256": ECAlgorithm}[self.alg].to_jwk
        return {**to_jwk(public, as_dict=True), "kid": self.kid, "alg": self.alg, "use": "sig", **extra}

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})


def new_key(kid: str, alg: str = "EdDSA", *, rsa_bits: int = 2048) -> SigningKey:
    if alg == "EdDSA":
        private: Any = ed25519.Ed25519PrivateKey.generate()
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(kid, alg, private)


def jwks_document(*keys: SigningKey) -> bytes:
    return json.dumps({"keys": [key.public_jwk() for key in keys]}).encode()


@pytest.fixture
def claims() -> Callable[..., dict[str, Any]]:
    """Valid claims for now; keyword overrides, and a value of None removes the claim."""

    def make(**overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "iat": now, "exp": now + 600}
        base.update(overrides)
        return {name: value for name, value in base.items() if value is not None}

    return make


@pytest.fixture
def jwks_path(tmp_path: Path) -> Path:
    return tmp_path / "jwks.json"


@pytest.fixture
def make_settings(jwks_path: Path) -> Callable[..., TokenSettings]:
    """TokenSettings on the test's JWKS file (or `jwks_url=...`), test issuer and audience."""

    def make(**overrides: Any) -> TokenSettings:
        values: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_path": jwks_path}
        if "jwks_url" in overrides:
            values.pop("jwks_path")
        return TokenSettings(**(values | overrides))

    return make


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def wall_clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def monotonic_clock() -> FakeClock:
    return FakeClock(1000.0)


@dataclass
class JwksServer:
    """A real HTTP server on 127.0.0.1 serving `document` with `status` at any path."""

    url: str = ""
    document: bytes = b'{"keys": []}'
    status: int = 200
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: Callable[[], None] = lambda: None


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.requests += 1
                status, body = state.status, state.document
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    state.stop = stop
    try:
        yield state
    finally:
        stop()


@pytest.fixture
def make_key() -> Callable[..., SigningKey]:
    """new_key(kid, alg="EdDSA", *, rsa_bits=2048): a fresh private key with its kid."""
    return new_key


@pytest.fixture
def write_jwks(jwks_path: Path) -> Callable[..., None]:
    """Write the public JWKS of these keys to the test's JWKS file (or `raw=` bytes as they are)."""

    def write(*keys: SigningKey, raw: bytes | None = None) -> None:
        jwks_path.write_bytes(jwks_document(*keys) if raw is None else raw)

    return write


@pytest.fixture
def serve_jwks(jwks_server: JwksServer) -> Callable[..., JwksServer]:
    """Have the local server answer with the JWKS of these keys (or `raw=` bytes) and `status`."""

    def serve(*keys: SigningKey, raw: bytes | None = None, status: int = 200) -> JwksServer:
        with jwks_server.lock:
            jwks_server.document = jwks_document(*keys) if raw is None else raw
            jwks_server.status = status
        return jwks_server

    return serve


@pytest.fixture
async def start_authenticator(
    make_settings: Callable[..., TokenSettings], wall_clock: FakeClock, monotonic_clock: FakeClock
) -> AsyncIterator[Callable[..., Awaitable[JwtAuthenticator]]]:
    """Start a JwtAuthenticator on the fake clocks (settings overrides as keywords); closed at teardown."""
    started: list[JwtAuthenticator] = []

    async def start(*, clock: Callable[[], float] = wall_clock, **overrides: Any) -> JwtAuthenticator:
        authenticator = JwtAuthenticator(make_settings(**overrides), clock=clock, monotonic=monotonic_clock)
        started.append(authenticator)
        await authenticator.start()
        return authenticator

    yield start
    for authenticator in started:
        await authenticator.close()
