"""JWT bearer authentication: an Authorization header in, a verified `Principal` out, or `AuthError`.

The order of checks puts the cheap ones first and lets no token choose how it is verified:

1. the header must be `Bearer <token>` (scheme case-insensitive, one token in JWS compact form, at
   most 8 KiB); nothing or only whitespace is *missing* credentials, anything else is *invalid*;
2. a token verified before and not yet past its `exp` is answered from a bounded LRU cache (keyed by
   the exact token string, so any tampering misses), provided its signing key is still published;
3. the unverified header gives only `alg` (refused unless in the allow-list, before any crypto)
   and `kid`; the key comes from the JWKS by kid alone (an unknown kid may trigger a rate-limited
   reload, see `gateway.policy.jwks`);
4. PyJWT checks the signature (with the key's own algorithm), `exp`, `iat`/`nbf` (not in the
   future), `iss` and `aud`, all required, with `leeway_seconds` of clock skew;
5. `sub` must be a non-empty printable ASCII string of at most 128 characters: it travels
   downstream as gRPC metadata, which allows nothing else.

Error messages tell a client developer what is wrong ("token expired", "invalid audience") without
echoing token content or key material.
"""
from __future__ import annotations

import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from gateway.policy.jwks import JwksKeySource
from gateway.settings import AuthSettings

logger = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 8 * 1024
MAX_SUBJECT_CHARS = 128
# PyJWT accepts a token without these unless told to require them.
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
# header.payload.signature, base64url; an empty signature is let through so `alg: none` gets its own message.
_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]*={0,2}")
# RFC 6750 §3: error_description may hold only these characters (no quote, no backslash).
_DESCRIPTION_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}

# Most specific first: the first matching class gives the message.
_PYJWT_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "invalid audience"),
    (jwt.InvalidIssuerError, "invalid issuer"),
    (jwt.InvalidSignatureError, "invalid signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidIssuedAtError, "invalid iat claim"),
    (jwt.exceptions.InvalidSubjectError, "invalid subject"),
    (jwt.exceptions.InvalidJTIError, "invalid jti claim"),
    (jwt.DecodeError, "malformed token"),
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller."""

    subject: str  # the JWT `sub`: the user id passed downstream
    expires_at: float  # `exp`, epoch seconds


class AuthError(Exception):
    """Authentication failed. `missing`: no bearer credentials at all; else present but invalid.

    `message` is safe to show to the client.
    """

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing

    @property
    def www_authenticate(self) -> str:
        """The WWW-Authenticate challenge of RFC 6750 §3 for this failure."""
        if self.missing:
            return "Bearer"
        description = "".join(c if c in _DESCRIPTION_CHARS else "'" if c == '"' else "?" for c in self.message)
        return f'Bearer error="invalid_token", error_description="{description}"'


@dataclass(slots=True)
class AuthStats:
    """Counters for metrics and tests."""

    cache_hits: int = 0
    verifications: int = 0  # tokens that reached signature verification


class TokenCache:
    """Verified tokens -> (Principal, kid), least recently used evicted first; size 0 disables it.

    An entry is good only while `now < exp` (no leeway: past exp the token is verified again, which
    decides with the leeway). Expired entries are dropped when looked up or evicted.
    """

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._entries: OrderedDict[str, tuple[Principal, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> tuple[Principal, str] | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if now >= entry[0].expires_at:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return entry

    def put(self, token: str, principal: Principal, kid: str, now: float) -> None:
        if self._max_size == 0 or now >= principal.expires_at:
            return
        self._entries[token] = (principal, kid)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    def discard(self, token: str) -> None:
        self._entries.pop(token, None)


class JwtAuthenticator:
    """Verifies bearer JWTs against the JWKS of `settings` (see the module docstring).

    `clock` (wall time, for the cache's exp) and `monotonic` (for key reload intervals) are
    injectable for tests. `http_client` is used for an URL key source and not closed here.
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._algorithms = list(settings.algorithms)
        self._clock = clock
        self._cache = TokenCache(settings.token_cache_size)
        self._started = False
        self.keys = JwksKeySource(settings, http_client=http_client, clock=monotonic)
        self.stats = AuthStats()

    async def start(self) -> None:
        """Load the key set (`JwksError` when the source gives no usable key); start its refresh."""
        await self.keys.start()
        self._started = True

    async def close(self) -> None:
        """Stop the key refresh and close an owned HTTP client. Idempotent."""
        self._started = False
        await self.keys.close()

    async def authenticate(
        self, authorization: str | None, before_verify: Callable[[], Awaitable[None]] | None = None
    ) -> Principal:
        """The caller of a request with this Authorization header value; raises AuthError.

        `before_verify` is awaited before a token that is not in the cache is verified (a rate
        limit on failed attempts may refuse it there); cached tokens skip it.
        """
        if not self._started:
            raise RuntimeError("JwtAuthenticator.authenticate() before start()")
        token = _bearer_token(authorization)
        cached = self._cache.get(token, self._clock())
        if cached is not None:
            principal, kid = cached
            # A key removed from the JWKS (rotated out, or revoked) takes its cached tokens with it.
            if kid in self.keys:
                self.stats.cache_hits += 1
                return principal
            self._cache.discard(token)
        if before_verify is not None:
            await before_verify()
        principal, kid = await self._verify(token)
        self._cache.put(token, principal, kid, self._clock())
        return principal

    async def _verify(self, token: str) -> tuple[Principal, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        if header.get("alg") not in self._algorithms:
            raise AuthError("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("missing key id (kid)")
        key = await self.keys.get_or_reload(kid)
        if key is None:
            raise AuthError("unknown signing key")
        self.stats.verifications += 1
        claims = self._decode(token, key)
        return Principal(subject=_subject(claims), expires_at=_expiry(claims)), kid

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        settings = self._settings
        try:
            return jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.MissingRequiredClaimError as error:
            raise AuthError(f"missing required claim: {error.claim}") from None
        except jwt.PyJWTError as error:
            message = next((text for cls, text in _PYJWT_ERRORS if isinstance(error, cls)), "invalid token")
            logger.debug("JWT rejected: %s (%s)", message, error)
            raise AuthError(message) from None
        except (ValueError, TypeError, OverflowError) as error:
            # Not expected from PyJWT, but a hostile token must never turn into a 500.
            logger.warning("JWT rejected by an unexpected error: %r", error)
            raise AuthError("invalid token") from None


def _bearer_token(authorization: str | None) -> str:
    """The token of `Bearer <token>`; AuthError(missing=True) when there are no credentials at all."""
    if not authorization or not authorization.strip():
        raise AuthError("missing bearer token", missing=True)
    # Checked on the whole header first: one comparison, before any scanning of a huge value.
    if len(authorization) > MAX_TOKEN_CHARS + len("Bearer "):
        raise AuthError("token too long")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("unsupported authorization scheme, expected Bearer")
    if not token:
        raise AuthError("expected 'Authorization: Bearer <token>'")
    if not _JWS_COMPACT.fullmatch(token):
        raise AuthError("malformed token" if " " not in token else "expected 'Authorization: Bearer <token>'")
    return token


def _subject(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUBJECT_CHARS or not (sub.isascii() and sub.isprintable()):
        raise AuthError("invalid subject")
    return sub


def _expiry(claims: dict[str, Any]) -> float:
    # PyJWT compares int(exp), which also accepts numeric strings; we insist on a JSON number.
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise AuthError("invalid exp claim")
    return float(exp)
