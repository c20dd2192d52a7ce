"""JwksKeySource and parse_jwks: which keys are used, reload rate limits, failures keeping the last good set."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from trust.jwks import MAX_DOCUMENT_BYTES, JwksError, JwksKeySource, parse_jwks

EDDSA = ["EdDSA"]


def doc(*jwks: Any) -> bytes:
    return json.dumps({"keys": list(jwks)}).encode()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda jwk: jwk.pop("kid"), "no kid"),
        (lambda jwk: jwk.update(kid=""), "no kid"),
        (lambda jwk: jwk.update(kid=7), "no kid"),
        (lambda jwk: jwk.update(d="c2VjcmV0"), "contains private key material"),
        (lambda jwk: jwk.update(use="enc"), "use is 'enc', not 'sig'"),
        (lambda jwk: jwk.update(key_ops=["encrypt"]), "key_ops does not allow 'verify'"),
        (lambda jwk: jwk.update(alg="ES256"), "unusable key (InvalidKeyError)"),
        (lambda jwk: jwk.update(x="not-a-key"), "unusable key (InvalidKeyError)"),
        (lambda jwk: jwk.update(kty="nope"), "unusable key (InvalidKeyError)"),
        (lambda jwk: jwk.update(alg="HS256", kty="oct", k="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw"),
         "algorithm HS256 is not allowed"),
    ],
    ids=["no kid", "empty kid", "numeric kid", "private", "use enc", "key_ops", "alg/kty mismatch", "bad x",
         "bad kty", "symmetric"],
)
def test_unusable_keys_are_skipped_and_logged(mutate, reason, make_key, caplog) -> None:
    good, bad = make_key("good"), make_key("bad")
    bad_jwk = bad.public_jwk()
    mutate(bad_jwk)
    with caplog.at_level(logging.WARNING, logger="trust.jwks"):
        keys = parse_jwks(doc(bad_jwk, good.public_jwk()), EDDSA)
    assert set(keys) == {"good"}
    assert reason in caplog.text


def test_key_algorithm_must_be_allowed(make_key, caplog) -> None:
    ed, rs = make_key("ed"), make_key("rs", "RS256")
    assert set(parse_jwks(doc(ed.public_jwk(), rs.public_jwk()), EDDSA)) == {"ed"}
    assert "algorithm RS256 is not allowed" in caplog.text
    assert set(parse_jwks(doc(ed.public_jwk(), rs.public_jwk()), ["EdDSA", "RS256"])) == {"ed", "rs"}


def test_weak_rsa_key_is_skipped(make_key, caplog) -> None:
    weak, good = make_key("weak", "RS256", rsa_bits=1024), make_key("good", "RS256")
    assert set(parse_jwks(doc(weak.public_jwk(), good.public_jwk()), ["RS256"])) == {"good"}
    assert "1024 bits" in caplog.text


def test_algorithm_inferred_when_alg_absent(make_key) -> None:
    ec = make_key("ec", "ES256")
    jwk = ec.public_jwk()
    del jwk["alg"]
    assert parse_jwks(doc(jwk), ["ES256"])["ec"].algorithm_name == "ES256"


def test_duplicate_kid_first_wins(make_key, caplog) -> None:
    first, second = make_key("same"), make_key("same")
    keys = parse_jwks(doc(first.public_jwk(), second.public_jwk()), EDDSA)
    assert keys["same"]._jwk_data == first.public_jwk()
    assert "duplicate kid" in caplog.text


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{", "not JSON"),
        (b'{"keys": {}}', "not a JWKS document"),
        (b'["keys"]', "not a JWKS document"),
        (b'{"keys": []}', "no usable key"),
        (b'{"keys": [1, "two", null]}', "no usable key"),
    ],
)
def test_document_without_usable_key_is_an_error(document, message) -> None:
    with pytest.raises(JwksError, match=message):
        parse_jwks(document, EDDSA)


async def test_unknown_kid_reload_is_rate_limited(make_key, write_jwks, make_settings, monotonic_clock) -> None:
    first, second, third = make_key("k1"), make_key("k2"), make_key("k3")
    write_jwks(first)
    source = JwksKeySource(make_settings(jwks_min_refresh_interval_seconds=10), clock=monotonic_clock)
    await source.start()
    try:
        write_jwks(first, second, third)
        for _ in range(100):  # a spray of unknown kids right after start: no reload at all
            assert await source.get_or_reload("k2") is None
        assert (source.stats.reloads, source.stats.reloads_suppressed) == (0, 100)
        monotonic_clock.advance(10)
        assert await source.get_or_reload("k2") is not None
        assert source.get("k3") is not None  # the same reload brought every new key
        assert await source.get_or_reload("nobody") is None  # just reloaded: refused
        monotonic_clock.advance(10)
        assert await source.get_or_reload("nobody") is None  # allowed again, still unknown
        assert source.stats.reloads == 2
    finally:
        await source.close()


async def test_failed_reload_keeps_last_good_keys(make_key, write_jwks, make_settings, caplog) -> None:
    key = make_key("k1")
    write_jwks(key)
    source = JwksKeySource(make_settings())
    await source.start()
    try:
        for broken in (b"garbage", b'{"keys": []}'):
            write_jwks(raw=broken)
            assert await source.reload() is False
            assert source.kids == {"k1"}
        assert source.stats.reload_failures == 2
        assert "reload failed, keeping the previous keys ['k1']" in caplog.text
        write_jwks(make_key("k2"))
        assert await source.reload() is True
        assert source.kids == {"k2"}
    finally:
        await source.close()


async def test_periodic_refresh(make_key, write_jwks, make_settings) -> None:
    first, second = make_key("k1"), make_key("k2")
    write_jwks(first)
    source = JwksKeySource(make_settings(jwks_refresh_seconds=0.02))
    await source.start()
    try:
        write_jwks(first, second)
        for _ in range(300):  # up to 3 s
            if "k2" in source:
                break
            await asyncio.sleep(0.01)
        assert "k2" in source
    finally:
        await source.close()
    assert source.stats.reloads >= 1


async def test_start_twice_is_refused_and_close_is_idempotent(make_key, write_jwks, make_settings) -> None:
    write_jwks(make_key("k1"))
    source = JwksKeySource(make_settings())
    await source.start()
    with pytest.raises(RuntimeError):
        await source.start()
    await source.close()
    await source.close()


async def test_url_source_and_failing_refresh(make_key, serve_jwks, make_settings) -> None:
    first, second = make_key("k1"), make_key("k2")
    server = serve_jwks(first)
    source = JwksKeySource(make_settings(jwks_url=server.url))  # owns its client
    await source.start()
    try:
        assert source.kids == {"k1"}
        serve_jwks(second, status=500)
        assert await source.reload() is False
        serve_jwks(raw=b"x" * (MAX_DOCUMENT_BYTES + 1))
        assert await source.reload() is False
        server.stop()  # connection refused from now on
        assert await source.reload() is False
        assert source.kids == {"k1"}
        assert source.stats.reload_failures == 3
    finally:
        await source.close()


async def test_url_source_with_shared_client(make_key, serve_jwks, make_settings) -> None:
    server = serve_jwks(make_key("k1"))
    async with httpx.AsyncClient() as client:
        source = JwksKeySource(make_settings(jwks_url=server.url), http_client=client)
        await source.start()
        await source.close()
        assert not client.is_closed  # not ours to close
        assert server.requests == 1


@pytest.mark.parametrize(("status", "raw", "message"), [(404, b"", "HTTP status 404"), (200, b"{}", "not a JWKS")])
async def test_url_start_failure_is_clear(status, raw, message, serve_jwks, make_settings) -> None:
    server = serve_jwks(raw=raw, status=status)
    source = JwksKeySource(make_settings(jwks_url=server.url))
    with pytest.raises(JwksError, match=f"JWKS {server.url}: {message}"):
        await source.start()


async def test_unreachable_url_start_failure(make_settings, jwks_server) -> None:
    jwks_server.stop()
    source = JwksKeySource(make_settings(jwks_url=jwks_server.url))
    with pytest.raises(JwksError, match="ConnectError"):
        await source.start()


def test_description_hides_credentials(make_settings) -> None:
    source = JwksKeySource(make_settings(jwks_url="https://user:secret@keys.example/jwks.json?token=abc"))
    assert source.description == "https://keys.example/jwks.json"
