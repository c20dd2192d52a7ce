"""JWT bearer authentication: an Authorization header in, a verified `Principal` out, or `AuthError`.

The order of checks puts the cheap ones first and lets no token choose how it is verified:

1. the request must carry at most one Authorization header (two are ambiguous: 400
   `invalid_request`, RFC 6750 §3.1), of the form `Bearer <token>` (scheme case-insensitive, one or
   more spaces, surrounding whitespace ignored, one token in JWS compact form, at most 8 KiB);
   nothing or only whitespace is *missing* credentials, anything else is *invalid*;
2. a token verified before and not yet past its `exp` is answered from a bounded LRU cache (keyed by
   the exact token string, so any tampering misses), provided its signing key is still published;
3. the unverified header gives only `alg` (refused unless in the allow-list, before any crypto)
   and `kid`; the claims must have the right JSON types, `sub` a well-formed user id
   (`trust.claims`); the key comes from the JWKS by kid alone (an unknown kid may
   trigger a rate-limited reload, see `trust.jwks`);
4. PyJWT checks the signature (with the key's own algorithm), `exp`, `iat`/`nbf` (not in the
   future), `iss` and `aud`, all required, with `leeway_seconds` of clock skew.

Error messages tell a client developer what is wrong ("token expired", "invalid audience") without
echoing token content or key material.
"""
from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import jwt

from trust.claims import ClaimError, check_claim_types
from trust.jwks import JwksKeySource
from trust.settings import TokenSettings

logger = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 8 * 1024
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
    """Authentication failed. `missing`: no bearer credentials at all; `invalid_request`: the
    credentials are ambiguous (a malformed request, 400); else present but invalid (401).

    `message` is safe to show to the client.
    """

    def __init__(self, message: str, *, missing: bool = False, invalid_request: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing
        self.invalid_request = invalid_request

    @property
    def code(self) -> grpc.StatusCode:
        """INVALID_ARGUMENT (400) for a malformed request, else UNAUTHENTICATED (401): RFC 6750 §3.1."""
        return grpc.StatusCode.INVALID_ARGUMENT if self.invalid_request else grpc.StatusCode.UNAUTHENTICATED

    @property
    def reason(self) -> str:
        """A short fixed word for metrics ("token_expired", "invalid_signature", ...): messages are a fixed set."""
        if self.missing:
            return "missing"
        if self.invalid_request:
            return "ambiguous"
        head = self.message.split(":", 1)[0].lower()
        return "_".join("".join(c if c.isalnum() else " " for c in head).split())[:40] or "invalid"

    @property
    def counts_as_failure(self) -> bool:
        """A token was presented and refused: what the per-address limit on failed attempts counts."""
        return not (self.missing or self.invalid_request)

    @property
    def www_authenticate(self) -> str:
        """The WWW-Authenticate challenge of RFC 6750 §3 for this failure."""
        if self.missing:
            return "Bearer"
        error = "invalid_request" if self.invalid_request else "invalid_token"
        description = "".join(c if c in _DESCRIPTION_CHARS else "'" if c == '"' else "?" for c in self.message)
        return f'Bearer error="{error}", error_description="{description}"'


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
        settings: TokenSettings,
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
        _check_claim_shapes(token)
        key = await self.keys.get_or_reload(kid)
        if key is None:
            raise AuthError("unknown signing key")
        self.stats.verifications += 1
        claims = self._decode(token, key)
        # Types were checked on these same payload bytes above; PyJWT made exp and sub required.
        return Principal(subject=claims["sub"], expires_at=float(claims["exp"])), kid

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


def single_authorization(values: Sequence[str]) -> str | None:
    """The one Authorization header of a request (all its values given), None when there is none.

    Two headers are ambiguous credentials: AuthError(invalid_request=True), never a guess.
    """
    if len(values) > 1:
        raise AuthError("send one Authorization header, not several", invalid_request=True)
    return values[0] if values else None


def _bearer_token(authorization: str | None) -> str:
    """The token of `Bearer <token>`; AuthError(missing=True) when there are no credentials at all."""
    if not authorization or not authorization.strip():
        raise AuthError("missing bearer token", missing=True)
    # Surrounding whitespace is not part of a field value (RFC 9110 §5.5); `1*SP` separates the
    # scheme from the token (RFC 6750 §2.1).
    scheme, _, token = authorization.strip(" \t").partition(" ")
    token = token.lstrip(" ")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError("token too long")
    if scheme.lower() != "bearer":
        raise AuthError("unsupported authorization scheme, expected Bearer")
    if not token:
        raise AuthError("expected 'Authorization: Bearer <token>'")
    if not _JWS_COMPACT.fullmatch(token):
        raise AuthError("malformed token" if " " not in token else "expected 'Authorization: Bearer <token>'")
    return token


def _check_claim_shapes(token: str) -> None:
    """Refuse wrongly typed claims before any cryptography. The payload is read without
    verification for this check alone: it can only refuse a token, never accept one."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError("malformed token") from None
    try:
        check_claim_types(claims)
    except ClaimError as error:
        raise AuthError(str(error)) from None
