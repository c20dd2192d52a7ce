"""JwtAuthenticator: attacks refused with the right challenge, valid tokens accepted and cached, key rotation."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.utils import base64url_decode, base64url_encode

from trust.jwks import JwksError
from trust.tokens import AuthError, JwtAuthenticator, Principal, single_authorization

Claims = Callable[..., dict[str, Any]]


def now() -> int:
    return int(time.time())


def raw_token(header: dict[str, Any], payload: Any, signature: bytes = b"") -> str:
    """A JWS compact token built by hand, for what PyJWT refuses to produce."""
    segments = [base64url_encode(json.dumps(part).encode()) for part in (header, payload)]
    return b".".join([*segments, base64url_encode(signature)]).decode()


def hs256_token(secret: bytes, kid: str, payload: dict[str, Any]) -> str:
    """HS256 signed with `secret`: the classic RS/HS confusion attack when `secret` is a public key."""
    unsigned = raw_token({"alg": "HS256", "typ": "JWT", "kid": kid}, payload).rsplit(".", 1)[0]
    signature = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{base64url_encode(signature).decode()}"


def signed_json(key: Any, payload: dict[str, Any]) -> str:
    """Signed claims that `jwt.encode` refuses to produce (it checks some types itself)."""
    return jwt.api_jws.encode(json.dumps(payload).encode(), key.private, algorithm=key.alg, headers={"kid": key.kid})


def tamper_sub(token: str, sub: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64url_decode(payload))
    claims["sub"] = sub
    return ".".join([header, base64url_encode(json.dumps(claims).encode()).decode(), signature])


def public_bytes(key: Any, encoding: Encoding, fmt: PublicFormat) -> bytes:
    return key.private.public_key().public_bytes(encoding, fmt)


# (id, Authorization header built from (published key, unpublished key, claims), message, missing)
ATTACKS: list[tuple[str, Callable[[Any, Any, Claims], str | None], str, bool]] = [
    ("no header", lambda k, o, c: None, "missing bearer token", True),
    ("empty header", lambda k, o, c: "", "missing bearer token", True),
    ("basic scheme", lambda k, o, c: "Basic abc", "unsupported authorization scheme, expected Bearer", False),
    ("bearer alone", lambda k, o, c: "Bearer", "expected 'Authorization: Bearer <token>'", False),
    ("bearer space", lambda k, o, c: "Bearer ", "expected 'Authorization: Bearer <token>'", False),
    ("two tokens", lambda k, o, c: "Bearer a b", "expected 'Authorization: Bearer <token>'", False),
    ("token too long", lambda k, o, c: "Bearer " + "a" * 9000, "token too long", False),
    ("not a jws", lambda k, o, c: "Bearer abc.def.ghi", "malformed token", False),
    ("alg none", lambda k, o, c: "Bearer " + raw_token({"alg": "none", "kid": k.kid}, c()), "algorithm not allowed",
     False),
    ("alg missing", lambda k, o, c: "Bearer " + raw_token({"kid": k.kid}, c(), b"x" * 64), "algorithm not allowed",
     False),
    ("hs256 with public key pem", lambda k, o, c: "Bearer " + hs256_token(
        public_bytes(k, Encoding.PEM, PublicFormat.SubjectPublicKeyInfo), k.kid, c()), "algorithm not allowed", False),
    ("hs256 with raw public key", lambda k, o, c: "Bearer " + hs256_token(
        public_bytes(k, Encoding.Raw, PublicFormat.Raw), k.kid, c()), "algorithm not allowed", False),
    ("expired beyond leeway", lambda k, o, c: "Bearer " + k.sign(c(exp=now() - 31, iat=now() - 90)), "token expired",
     False),
    ("iat in the future", lambda k, o, c: "Bearer " + k.sign(c(iat=now() + 3600, exp=now() + 7200)),
     "token not yet valid", False),
    ("nbf in the future", lambda k, o, c: "Bearer " + k.sign(c(nbf=now() + 3600)), "token not yet valid", False),
    ("wrong issuer", lambda k, o, c: "Bearer " + k.sign(c(iss="someone-else")), "invalid issuer", False),
    ("wrong audience", lambda k, o, c: "Bearer " + k.sign(c(aud="another-api")), "invalid audience", False),
    ("missing exp", lambda k, o, c: "Bearer " + k.sign(c(exp=None)), "missing required claim: exp", False),
    ("missing iat", lambda k, o, c: "Bearer " + k.sign(c(iat=None)), "missing required claim: iat", False),
    ("missing iss", lambda k, o, c: "Bearer " + k.sign(c(iss=None)), "missing required claim: iss", False),
    ("missing aud", lambda k, o, c: "Bearer " + k.sign(c(aud=None)), "missing required claim: aud", False),
    ("missing sub", lambda k, o, c: "Bearer " + k.sign(c(sub=None)), "missing required claim: sub", False),
    ("empty sub", lambda k, o, c: "Bearer " + k.sign(c(sub="")), "invalid subject", False),
    ("numeric sub", lambda k, o, c: "Bearer " + k.sign(c(sub=42)), "invalid subject", False),
    ("sub too long", lambda k, o, c: "Bearer " + k.sign(c(sub="u" * 129)), "invalid subject", False),
    ("sub with newline", lambda k, o, c: "Bearer " + k.sign(c(sub="user\nx-user-id: admin")), "invalid subject", False),
    ("blank sub", lambda k, o, c: "Bearer " + k.sign(c(sub="   ")), "invalid subject", False),
    ("sub with a space", lambda k, o, c: "Bearer " + k.sign(c(sub="user 42")), "invalid subject", False),
    ("sub with a tab", lambda k, o, c: "Bearer " + k.sign(c(sub="user42\t")), "invalid subject", False),
    ("non-ASCII sub", lambda k, o, c: "Bearer " + k.sign(c(sub="usér")), "invalid subject", False),
    ("sub as a list", lambda k, o, c: "Bearer " + k.sign(c(sub=["u1"])), "invalid subject", False),
    ("exp as string", lambda k, o, c: "Bearer " + k.sign(c(exp=str(now() + 600))),
     "invalid exp claim: must be a number", False),
    ("exp as bool", lambda k, o, c: "Bearer " + k.sign(c(exp=True)), "invalid exp claim: must be a number", False),
    ("exp NaN", lambda k, o, c: "Bearer " + k.sign(c(exp=float("nan"))), "invalid exp claim: must be a number",
     False),
    ("iat as numeric string", lambda k, o, c: "Bearer " + k.sign(c(iat=str(now()))),
     "invalid iat claim: must be a number", False),
    ("iat as bool", lambda k, o, c: "Bearer " + k.sign(c(iat=True)), "invalid iat claim: must be a number", False),
    ("nbf as object", lambda k, o, c: "Bearer " + k.sign(c(nbf={"t": 1})), "invalid nbf claim: must be a number",
     False),
    ("iss as number", lambda k, o, c: "Bearer " + signed_json(k, c(iss=7)), "invalid iss claim: must be a string",
     False),
    ("aud as number", lambda k, o, c: "Bearer " + k.sign(c(aud=7)),
     "invalid aud claim: must be a string or a list of strings", False),
    ("aud list with a number", lambda k, o, c: "Bearer " + k.sign(c(aud=["test-gateway", 7])),
     "invalid aud claim: must be a string or a list of strings", False),
    ("aud empty list", lambda k, o, c: "Bearer " + k.sign(c(aud=[])),
     "invalid aud claim: must be a string or a list of strings", False),
    ("jti as number", lambda k, o, c: "Bearer " + k.sign(c(jti=12)), "invalid jti claim: must be a string", False),
    ("payload not an object", lambda k, o, c: "Bearer " + raw_token({"alg": "EdDSA", "kid": k.kid}, [1], b"x" * 64),
     "malformed token", False),
    ("no kid", lambda k, o, c: "Bearer " + raw_token({"alg": "EdDSA"}, c(), b"x" * 64), "missing key id (kid)", False),
    ("unknown kid", lambda k, o, c: "Bearer " + o.sign(c(), headers={"kid": "nobody"}), "unknown signing key", False),
    ("embedded attacker jwk", lambda k, o, c: "Bearer " + o.sign(c(), headers={"kid": "nobody", "jwk": o.public_jwk()}),
     "unknown signing key", False),
    ("published kid, other private key", lambda k, o, c: "Bearer " + o.sign(c(), headers={"kid": k.kid}),
     "invalid signature", False),
    ("tampered sub", lambda k, o, c: "Bearer " + tamper_sub(k.sign(c()), "admin"), "invalid signature", False),
    ("signature truncated", lambda k, o, c: "Bearer " + k.sign(c())[:-1], "malformed token", False),
    ("signature dropped", lambda k, o, c: "Bearer " + k.sign(c()).rsplit(".", 1)[0], "malformed token", False),
    ("signature emptied", lambda k, o, c: "Bearer " + k.sign(c()).rsplit(".", 1)[0] + ".", "invalid signature", False),
]


@pytest.mark.parametrize(("build", "message", "missing"), [case[1:] for case in ATTACKS], ids=[c[0] for c in ATTACKS])
async def test_attack_is_refused(build, message, missing, make_key, write_jwks, claims, start_authenticator) -> None:
    published, attacker = make_key("k1"), make_key("k1")
    write_jwks(published)
    authenticator = await start_authenticator(clock=time.time)
    with pytest.raises(AuthError) as raised:
        await authenticator.authenticate(build(published, attacker, claims))
    error = raised.value
    assert (error.message, error.missing) == (message, missing)
    expected = "Bearer" if missing else f'Bearer error="invalid_token", error_description="{message}"'
    assert error.www_authenticate == expected


def test_www_authenticate_is_quote_safe() -> None:
    error = AuthError('bad "value" \\ with\nnewline')
    assert error.www_authenticate == 'Bearer error="invalid_token", error_description="bad \'value\' ? with?newline"'


async def test_algorithm_must_match_the_key(make_key, write_jwks, claims, start_authenticator) -> None:
    """With two algorithms allowed, a token cannot make an Ed25519 key verify as RSA (or the reverse)."""
    ed, rs = make_key("ed"), make_key("rs", "RS256")
    write_jwks(ed, rs)
    authenticator = await start_authenticator(algorithms=["EdDSA", "RS256"])
    forged = rs.sign(claims(), headers={"kid": "ed"})
    with pytest.raises(AuthError, match="algorithm not allowed"):
        await authenticator.authenticate(f"Bearer {forged}")
    assert (await authenticator.authenticate(f"Bearer {rs.sign(claims())}")).subject == "user-42"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_valid_token_gives_principal(scheme, make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator()
    token_claims = claims(sub="user-7")
    principal = await authenticator.authenticate(f"{scheme} {key.sign(token_claims)}")
    assert principal == Principal(subject="user-7", expires_at=float(token_claims["exp"]))


@pytest.mark.parametrize(
    "header",
    ["Bearer {t} ", "Bearer {t}\t", " Bearer {t}", "Bearer  {t}", "bearer {t}  \t "],
    ids=["trailing space", "trailing tab", "leading space", "two spaces", "mixed"],
)
async def test_optional_whitespace_is_accepted(header, make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator()
    principal = await authenticator.authenticate(header.format(t=key.sign(claims(sub="user-7"))))
    assert principal.subject == "user-7"


@pytest.mark.parametrize("sub", ["0b8f2a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "42",
                                 "wx:o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "ann@example.com", "u" * 128])
async def test_well_formed_user_ids_are_accepted(sub, make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator()
    assert (await authenticator.authenticate(f"Bearer {key.sign(claims(sub=sub))}")).subject == sub


@pytest.mark.parametrize(("values", "expected"), [([], None), (["Bearer a.b.c"], "Bearer a.b.c"), ([""], "")])
def test_single_authorization(values: list[str], expected: str | None) -> None:
    assert single_authorization(values) == expected


@pytest.mark.parametrize("values", [["Bearer a.b.c", "Bearer d.e.f"], ["Bearer a.b.c", "Bearer a.b.c"], ["", ""]])
def test_two_authorization_headers_are_an_invalid_request(values: list[str]) -> None:
    with pytest.raises(AuthError) as raised:
        single_authorization(values)
    error = raised.value
    assert error.invalid_request and not error.missing
    assert error.code.name == "INVALID_ARGUMENT"
    assert error.www_authenticate == (
        'Bearer error="invalid_request", error_description="send one Authorization header, not several"'
    )


async def test_expired_within_leeway_is_accepted(make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator(leeway_seconds=30)
    now = int(time.time())
    assert await authenticator.authenticate(f"Bearer {key.sign(claims(iat=now - 60, exp=now - 10))}")


async def test_second_call_is_answered_from_cache(make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator()
    header = f"Bearer {key.sign(claims())}"
    first = await authenticator.authenticate(header)
    second = await authenticator.authenticate(header)
    assert first == second
    assert (authenticator.stats.verifications, authenticator.stats.cache_hits) == (1, 1)


async def test_cache_is_keyed_by_exact_token(make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator()
    token = key.sign(claims())
    await authenticator.authenticate(f"Bearer {token}")
    with pytest.raises(AuthError, match="invalid signature"):
        await authenticator.authenticate(f"Bearer {tamper_sub(token, 'admin')}")


async def test_failures_are_not_cached(make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator()
    header = f"Bearer {key.sign(claims(aud='elsewhere'))}"
    for _ in range(2):
        with pytest.raises(AuthError):
            await authenticator.authenticate(header)
    assert (authenticator.stats.verifications, authenticator.stats.cache_hits) == (2, 0)


async def test_cache_entry_is_not_used_past_exp(make_key, write_jwks, claims, start_authenticator, wall_clock) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator()
    token_claims = claims()
    header = f"Bearer {key.sign(token_claims)}"
    await authenticator.authenticate(header)
    wall_clock.now = token_claims["exp"] - 1
    await authenticator.authenticate(header)
    assert (authenticator.stats.verifications, authenticator.stats.cache_hits) == (1, 1)
    # Past exp by our clock the entry is dropped and the token verified again (PyJWT, on real time, still accepts).
    wall_clock.now = token_claims["exp"]
    await authenticator.authenticate(header)
    assert (authenticator.stats.verifications, authenticator.stats.cache_hits) == (2, 1)


async def test_cached_token_is_rejected_once_expired(
    make_key, write_jwks, claims, start_authenticator, wall_clock
) -> None:
    """An entry past its exp goes back to verification, which refuses the token (PyJWT checks on real time).

    The token expired a minute ago in real time; the cache holds it as it would have while it was valid.
    """
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator(leeway_seconds=0)
    exp = int(time.time()) - 60
    token = key.sign(claims(iat=exp - 600, exp=exp))
    wall_clock.now = exp - 10
    authenticator._cache.put(token, Principal(subject="user-1", expires_at=exp), "k1", wall_clock.now)
    assert await authenticator.authenticate(f"Bearer {token}") == Principal(subject="user-1", expires_at=exp)
    wall_clock.now = exp
    with pytest.raises(AuthError, match="token expired"):
        await authenticator.authenticate(f"Bearer {token}")


async def test_cache_is_bounded_lru(make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator(token_cache_size=2)
    a, b, c = (f"Bearer {key.sign(claims(sub=sub))}" for sub in "abc")
    for header in (a, b, a, c):  # a is used again before c arrives, so b is the least recently used
        await authenticator.authenticate(header)
    assert (authenticator.stats.verifications, authenticator.stats.cache_hits) == (3, 1)
    await authenticator.authenticate(a)
    await authenticator.authenticate(c)
    await authenticator.authenticate(b)
    assert (authenticator.stats.verifications, authenticator.stats.cache_hits) == (4, 3)


async def test_cache_size_zero_disables_it(make_key, write_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    write_jwks(key)
    authenticator = await start_authenticator(token_cache_size=0)
    header = f"Bearer {key.sign(claims())}"
    await authenticator.authenticate(header)
    await authenticator.authenticate(header)
    assert (authenticator.stats.verifications, authenticator.stats.cache_hits) == (2, 0)


async def test_rotation_new_key_picked_up_after_min_interval(
    make_key, write_jwks, claims, start_authenticator, monotonic_clock
) -> None:
    old, new = make_key("old"), make_key("new")
    write_jwks(old)
    authenticator = await start_authenticator(jwks_min_refresh_interval_seconds=10)
    old_header, new_header = f"Bearer {old.sign(claims())}", f"Bearer {new.sign(claims(sub='u2'))}"
    assert await authenticator.authenticate(old_header)
    write_jwks(old, new)
    # Loaded at start a moment ago: an unknown kid does not trigger a reload yet.
    monotonic_clock.advance(9)
    with pytest.raises(AuthError, match="unknown signing key"):
        await authenticator.authenticate(new_header)
    monotonic_clock.advance(1)
    assert (await authenticator.authenticate(new_header)).subject == "u2"
    assert (await authenticator.authenticate(f"Bearer {old.sign(claims(sub='u3'))}")).subject == "u3"
    assert authenticator.keys.stats.reloads == 1


async def test_removed_key_invalidates_cached_tokens(make_key, write_jwks, claims, start_authenticator) -> None:
    old, new = make_key("old"), make_key("new")
    write_jwks(old, new)
    authenticator = await start_authenticator()
    cached = f"Bearer {old.sign(claims())}"
    await authenticator.authenticate(cached)
    write_jwks(new)
    assert await authenticator.keys.reload()
    with pytest.raises(AuthError, match="unknown signing key"):
        await authenticator.authenticate(cached)


async def test_concurrent_unknown_kids_share_one_reload(make_key, write_jwks, claims, start_authenticator) -> None:
    key, stranger = make_key("k1"), make_key("k2")
    write_jwks(key)
    authenticator = await start_authenticator(jwks_min_refresh_interval_seconds=0)
    headers = [f"Bearer {stranger.sign(claims(), headers={'kid': f'random-{i}'})}" for i in range(20)]
    results = await asyncio.gather(*(authenticator.authenticate(h) for h in headers), return_exceptions=True)
    assert all(isinstance(r, AuthError) and r.message == "unknown signing key" for r in results)
    assert authenticator.keys.stats.reloads == 1


async def test_url_source_keeps_keys_when_it_fails(make_key, serve_jwks, claims, start_authenticator) -> None:
    key = make_key("k1")
    server = serve_jwks(key)
    authenticator = await start_authenticator(jwks_url=server.url)
    assert (await authenticator.authenticate(f"Bearer {key.sign(claims())}")).subject == "user-42"
    server.stop()
    assert await authenticator.keys.reload() is False
    # A token never seen (so not cached) still verifies with the last good keys.
    assert (await authenticator.authenticate(f"Bearer {key.sign(claims(sub='u9'))}")).subject == "u9"


@pytest.mark.parametrize(
    "document", [b"", b"not json", b"[]", b'{"keys": []}', b'{"keys": [{"kty": "OKP"}]}'], ids=repr
)
async def test_start_without_usable_key_fails_clearly(document, write_jwks, make_settings, jwks_path) -> None:
    write_jwks(raw=document)
    authenticator = JwtAuthenticator(make_settings())
    with pytest.raises(JwksError, match=f"JWKS {jwks_path}: "):
        await authenticator.start()
    await authenticator.close()


async def test_start_with_missing_file_fails_clearly(make_settings, jwks_path) -> None:
    authenticator = JwtAuthenticator(make_settings())
    with pytest.raises(JwksError, match="cannot read the file: No such file or directory"):
        await authenticator.start()


async def test_authenticate_before_start_is_a_programming_error(make_settings) -> None:
    with pytest.raises(RuntimeError):
        await JwtAuthenticator(make_settings()).authenticate("Bearer a.b.c")
