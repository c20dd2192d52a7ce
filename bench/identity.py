"""What naming the caller costs a service per call, and what the alternative would: `python -m bench.identity`.

The services verify the user's JWT themselves (`services.common.identity.Callers`, `trust.tokens`):

- cached: the token was verified before and is not past its exp: a dictionary lookup and the key check;
- uncached: its first call: claim checks and one Ed25519 signature verification.

The alternative (docs/design.md, Internal trust): the gateway mints a short-lived internal token per call,
signed with a key of its own, which the service verifies: one Ed25519 signature and one verification per
call, every call, since each token is new.

Measured in this process, each for about `--seconds`, on the tokens the benchmark's load uses. Prints JSON:
microseconds per call (CPU time of this process).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.keys import SigningKey
from trust.settings import TokenSettings
from trust.tokens import JwtAuthenticator

INTERNAL_TOKEN_SECONDS = 60


async def per_call(action: Callable[[], Awaitable[object]], seconds: float) -> float:
    """CPU microseconds per call of `action`, over about `seconds`."""
    for _ in range(100):  # warm-up
        await action()
    calls, started, cpu = 0, time.monotonic(), time.process_time()
    while time.monotonic() - started < seconds:
        for _ in range(100):
            await action()
        calls += 100
    return (time.process_time() - cpu) * 1e6 / calls


async def measure(seconds: float) -> dict[str, float]:
    key = SigningKey()
    with tempfile.TemporaryDirectory() as folder:
        jwks = key.write_jwks(Path(folder) / "jwks.json")
        cached = JwtAuthenticator(TokenSettings(jwks_path=jwks))
        uncached = JwtAuthenticator(TokenSettings(jwks_path=jwks, token_cache_size=0))
        await cached.start()
        await uncached.start()
        try:
            header = f"Bearer {key.token(sub='bench-user', ttl=3600)}"
            gateway_key = Ed25519PrivateKey.generate()

            async def mint_and_verify() -> object:
                now = int(time.time())
                token = jwt.encode({"sub": "bench-user", "iat": now, "exp": now + INTERNAL_TOKEN_SECONDS,
                                    "jti": uuid.uuid4().hex, "aud": "postcard-service"}, gateway_key, algorithm="EdDSA")
                return jwt.decode(token, gateway_key.public_key(), algorithms=["EdDSA"], audience="postcard-service")

            return {
                "verify_cached_us": await per_call(lambda: cached.authenticate(header), seconds),
                "verify_uncached_us": await per_call(lambda: uncached.authenticate(header), seconds),
                "internal_token_sign_and_verify_us": await per_call(mint_and_verify, seconds),
            }
        finally:
            await cached.close()
            await uncached.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement (2)")
    print(json.dumps(asyncio.run(measure(parser.parse_args().seconds))), flush=True)


if __name__ == "__main__":
    main()
