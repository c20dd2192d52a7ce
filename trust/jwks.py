"""The JWT verification keys: a JWKS document read from a file or an URL, and kept fresh.

`JwksKeySource` holds the public keys by `kid`. It loads them at `start()` (failing loudly when the
source gives no usable key), reloads them every `jwks_refresh_seconds` in a background task, and
reloads early when a token names a `kid` it does not know — at most once per
`jwks_min_refresh_interval_seconds`, so a client spraying random kids cannot make the gateway hammer
the source. Concurrent lookups of unknown kids share one reload. A failed reload keeps the last good
key set: an outage of the key source must not log every user out.

A key is used only when it has a `kid`, is a public signing key (`use` absent or "sig", `key_ops`
absent or containing "verify", no private member `d`), its algorithm (its `alg`, or the one PyJWT
infers from `kty`/`crv`) is in the allow-list, and it is not shorter than PyJWT recommends. Other
keys are skipped with a warning; the first of two keys with the same kid wins.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import jwt

from trust.settings import TokenSettings

logger = logging.getLogger(__name__)

# A JWKS holds a handful of keys; anything bigger is a misconfigured or hostile source.
MAX_DOCUMENT_BYTES = 1024 * 1024
# httpx timeouts are per operation (connect, each read, ...); the total bound stops a slow drip.
FETCH_TIMEOUT = httpx.Timeout(5.0)
FETCH_TOTAL_SECONDS = 10.0
# After a failed periodic refresh, retry sooner than a full period, but not in a tight loop.
RETRY_FLOOR_SECONDS = 1.0


class JwksError(Exception):
    """The key source gave no usable key set: unreadable, not a JWKS document, or no acceptable key."""


@dataclass(slots=True)
class KeySourceStats:
    """Counters for metrics and tests: reload attempts, failed ones, and unknown-kid reloads refused."""

    reloads: int = 0
    reload_failures: int = 0
    reloads_suppressed: int = 0


def parse_jwks(document: bytes | str, algorithms: Collection[str]) -> dict[str, jwt.PyJWK]:
    """The usable keys of a JWKS document, by kid; raises JwksError when there is none."""
    try:
        data: Any = json.loads(document)
    except (ValueError, RecursionError) as error:
        raise JwksError(f"not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwksError('not a JWKS document (expected an object with a "keys" array)')
    keys: dict[str, jwt.PyJWK] = {}
    for index, jwk in enumerate(data["keys"]):
        key_or_reason = _usable_key(jwk, keys, algorithms)
        if isinstance(key_or_reason, str):
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            logger.warning("JWKS key #%d (kid %r) skipped: %s", index, kid, key_or_reason)
            continue
        keys[jwk["kid"]] = key_or_reason
    if not keys:
        raise JwksError(f"no usable key (need a kid and one of the algorithms {sorted(algorithms)})")
    return keys


def _usable_key(jwk: Any, seen: Mapping[str, Any], algorithms: Collection[str]) -> jwt.PyJWK | str:
    """The key of this JWK, or why it is not used."""
    if not isinstance(jwk, dict):
        return "not a JSON object"
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return "no kid"
    if kid in seen:
        return "duplicate kid (the first one is used)"
    if "d" in jwk:
        # A private key in a published document is a leak upstream; never verify with it.
        return "contains private key material"
    if jwk.get("use", "sig") != "sig":
        return f"use is {jwk.get('use')!r}, not 'sig'"
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return "key_ops does not allow 'verify'"
    try:
        key = jwt.PyJWK(jwk)
    except (jwt.PyJWTError, TypeError, ValueError) as error:
        # The class name only: PyJWT's messages may quote the whole JWK.
        return f"unusable key ({error.__class__.__name__})"
    if key.algorithm_name not in algorithms:
        return f"algorithm {key.algorithm_name} is not allowed"
    weak: str | None = key.Algorithm.check_key_length(key.key)
    return weak if weak is not None else key


def _read_file(path: Path) -> bytes:
    # Synchronous on purpose: a local file of a few KiB reads faster than a thread hop.
    try:
        with path.open("rb") as file:
            data = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise JwksError(f"cannot read the file: {error.strerror or error}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise JwksError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    return data


class JwksKeySource:
    """The verification keys of one JWKS source (`settings.jwks_path` or `settings.jwks_url`).

    `http_client` is used for an URL source when given (and then not closed here); otherwise the
    source creates and owns one. `clock` is a monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        settings: TokenSettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = settings.jwks_path
        self._url = settings.jwks_url
        self._ca_file = settings.jwks_ca_file
        self._algorithms = frozenset(settings.algorithms)
        self._refresh_seconds = settings.jwks_refresh_seconds
        self._min_interval = settings.jwks_min_refresh_interval_seconds
        self._client = http_client
        self._owns_client = False
        self._clock = clock
        self._keys: Mapping[str, jwt.PyJWK] = MappingProxyType({})
        self._last_attempt = -math.inf
        self._reload_task: asyncio.Task[bool] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self.stats = KeySourceStats()

    @property
    def description(self) -> str:
        """The source for log lines and errors: the file path, or the URL without credentials or query."""
        if self._path is not None:
            return str(self._path)
        url = httpx.URL(self._url or "")
        return str(url.copy_with(username=None, password=None, query=None, fragment=None))

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def get(self, kid: str) -> jwt.PyJWK | None:
        """The key with this kid in the current set, without reloading."""
        return self._keys.get(kid)

    async def start(self) -> None:
        """Load the key set (JwksError when it gives no usable key) and start the periodic refresh."""
        if self._refresh_task is not None:
            raise RuntimeError("JwksKeySource.start() called twice")
        if self._url is not None and self._client is None:
            try:
                verify = ssl.create_default_context(cafile=self._ca_file) if self._ca_file else True
            except OSError as error:  # ssl.SSLError included: not a PEM certificate
                raise JwksError(f"cannot use the CA file {self._ca_file}: {error}") from None
            self._client = httpx.AsyncClient(timeout=FETCH_TIMEOUT, verify=verify)
            self._owns_client = True
        self._last_attempt = self._clock()
        try:
            self._keys = MappingProxyType(await self._load())
        except BaseException as error:
            await self.close()  # also on cancellation: an owned client must not leak
            if isinstance(error, JwksError):
                raise JwksError(f"JWKS {self.description}: {error}") from None
            raise
        logger.info("JWKS %s loaded: kids %s", self.description, sorted(self._keys))
        self._refresh_task = asyncio.create_task(self._refresh_periodically(), name="jwks-refresh")

    async def close(self) -> None:
        """Stop the refresh task and any reload in flight; close the HTTP client if owned. Idempotent."""
        tasks = [task for task in (self._refresh_task, self._reload_task) if task is not None and not task.done()]
        for task in tasks:
            task.cancel()
        # gather, not suppress(CancelledError): a cancellation of close() itself must still propagate.
        await asyncio.gather(*tasks, return_exceptions=True)
        self._reload_task = None
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
            self._owns_client = False

    async def get_or_reload(self, kid: str) -> jwt.PyJWK | None:
        """The key with this kid, reloading the set first when the kid is unknown.

        The reload happens only if none was attempted in the last `jwks_min_refresh_interval_seconds`
        (or one is in flight: then this waits for it). Returns None when the kid is still unknown.
        """
        key = self._keys.get(kid)
        if key is not None:
            return key
        task = self._reload_task
        if task is None or task.done():
            if self._clock() - self._last_attempt < self._min_interval:
                self.stats.reloads_suppressed += 1
                return None
            task = self._start_reload()
        # Shielded: a caller that goes away (client disconnect) must not cancel the reload others share.
        await asyncio.shield(task)
        return self._keys.get(kid)

    async def reload(self) -> bool:
        """Reload now, regardless of the minimum interval (or join the reload in flight).

        Returns whether it succeeded; on failure the previous key set stays in use.
        """
        task = self._reload_task
        if task is None or task.done():
            task = self._start_reload()
        return await asyncio.shield(task)

    def _start_reload(self) -> asyncio.Task[bool]:
        self._last_attempt = self._clock()
        self._reload_task = asyncio.create_task(self._reload_once(), name="jwks-reload")
        return self._reload_task

    async def _reload_once(self) -> bool:
        self.stats.reloads += 1
        try:
            keys = await self._load()
        except Exception as error:
            # Never raises (the task is shared and may have no awaiter left): keep the old keys.
            self.stats.reload_failures += 1
            logger.warning(
                "JWKS %s reload failed, keeping the previous keys %s: %s",
                self.description, sorted(self._keys), error,
                exc_info=not isinstance(error, JwksError),
            )
            return False
        if keys.keys() != self._keys.keys():
            logger.info("JWKS %s reloaded: kids %s (were %s)", self.description, sorted(keys), sorted(self._keys))
        self._keys = MappingProxyType(keys)
        return True

    async def _refresh_periodically(self) -> None:
        delay = self._refresh_seconds
        while True:
            await asyncio.sleep(delay)
            ok = await self.reload()
            delay = self._refresh_seconds if ok else min(
                self._refresh_seconds, max(self._min_interval, RETRY_FLOOR_SECONDS)
            )

    async def _load(self) -> dict[str, jwt.PyJWK]:
        document = _read_file(self._path) if self._path is not None else await self._fetch_url()
        return parse_jwks(document, self._algorithms)

    async def _fetch_url(self) -> bytes:
        assert self._client is not None and self._url is not None
        body = bytearray()
        try:
            async with asyncio.timeout(FETCH_TOTAL_SECONDS):
                async with self._client.stream(
                    "GET", self._url, headers={"Accept": "application/json"}, timeout=FETCH_TIMEOUT
                ) as response:
                    if response.status_code != 200:
                        raise JwksError(f"HTTP status {response.status_code}")
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_DOCUMENT_BYTES:
                            raise JwksError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        except TimeoutError:
            raise JwksError(f"no complete answer within {FETCH_TOTAL_SECONDS:g} s") from None
        except httpx.HTTPError as error:
            raise JwksError(f"{error.__class__.__name__}: {error}") from None
        return bytes(body)
