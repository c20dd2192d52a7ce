"""FALLBACK_CACHED_OR_EMPTY: the caller's last good answer, else the empty answer, when the upstream fails.

Which methods fall back is read from the contract (`postcardapp.gateway.v1.policy`
`fallback`), not configured per route. On a backend fault (any failure that
would be a 5xx, RESOURCE_EXHAUSTED but a service's deliberate refusal, an open
breaker, no healthy endpoint),
such a method answers with the last good response to the same request of the
same user, while it is younger than `ttl_seconds`, else with the empty response
message; the reply says which ("cache" or "empty"), for the X-Fallback header.
A client's error (NOT_FOUND, INVALID_ARGUMENT, ...) is never replaced.

Entries are keyed by (method, user id, the request's deterministic bytes): never
another user's answer. The cache is bounded in entries and in total protobuf
size, least recently used first out, and lives in this process.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

import grpc
from google.protobuf.message import Message

from ..errors import GatewayError
from ..settings import FallbackSettings
from ..upstream.breaker import is_backend_fault
from ..upstream.rpc import Rpc

Source = Literal["cache", "empty"]
_Key = tuple[str, str, bytes]


def falls_back(error: GatewayError) -> bool:
    """Whether a failure is the backend's (so a fallback may answer), not the client's (nor a refusal of it)."""
    return is_backend_fault(error) or (error.http_status >= 500 and error.code != grpc.StatusCode.CANCELLED)


class FallbackCache:
    def __init__(self, settings: FallbackSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = settings.ttl_seconds
        self._max_entries = settings.max_entries
        self._max_bytes = settings.max_bytes
        self._clock = clock
        self._entries: OrderedDict[_Key, tuple[Message, float, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def remember(self, rpc: Rpc, request: Message, user_id: str | None, response: Message) -> None:
        """Keep `response` as the last good answer (responses are never modified after they are received)."""
        size = response.ByteSize()
        if self._max_entries == 0 or size > self._max_bytes:
            return
        key = _key(rpc, request, user_id)
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
        self._entries[key] = (response, self._clock(), size)
        self._bytes += size
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            _, (_, _, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted

    def answer(self, rpc: Rpc, request: Message, user_id: str | None) -> tuple[Message, Source]:
        """The fallback answer: the fresh cached response, else the empty response message."""
        key = _key(rpc, request, user_id)
        entry = self._entries.get(key)
        if entry is not None:
            response, stored_at, size = entry
            if self._clock() - stored_at < self._ttl:
                self._entries.move_to_end(key)
                return response, "cache"
            del self._entries[key]
            self._bytes -= size
        return rpc.response_class(), "empty"


def _key(rpc: Rpc, request: Message, user_id: str | None) -> _Key:
    # "" for an anonymous caller of a public method: public answers are the same for every anonymous caller.
    return rpc.path, user_id or "", request.SerializeToString(deterministic=True)
