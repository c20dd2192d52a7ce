"""Page tokens of ListMyPostcards (AIP-158): where the next page starts, bound to the caller it was issued to.

    token = base64url(version | created_at | postcard_id | tag), unpadded (82 characters for a UUID id)
    tag   = HMAC-SHA256(secret, "ListMyPostcards" | user id | version | created_at | postcard_id), 16 bytes

The position is the last postcard of the page, as the list is ordered (`created_at`, then
`postcard_id`, both descending): the next page is what comes after it, so postcards created
meanwhile neither repeat nor push others out of reach (keyset pagination, not an offset). The token
is opaque to clients, but not secret: it holds a time and an id of the caller's own list. It is
tamper-evident: any changed byte, or the token of another caller, fails the tag check
(`PageTokenError`), which the service answers with INVALID_ARGUMENT. The secret comes from the
settings (`page_token_secret`); every process serving the same database must share it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

_VERSION = 1
_HEAD = struct.Struct(">Bd")  # version, created_at (seconds since the epoch); the postcard id follows
_TAG_BYTES = 16
_CONTEXT = b"ListMyPostcards\x00"


class PageTokenError(ValueError):
    """Not a page token this service issued to this caller."""


@dataclass(frozen=True, slots=True)
class Position:
    """The last postcard of a page: the next page starts after it."""

    created_at: float
    postcard_id: str


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, user_id: str, position: Position) -> str:
        payload = _HEAD.pack(_VERSION, position.created_at) + position.postcard_id.encode()
        return _encode(payload + self._tag(user_id, payload))

    def read(self, user_id: str, token: str) -> Position:
        """The position in a token issued to `user_id`; PageTokenError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise PageTokenError("not a page token") from None
        if _encode(raw) != token:  # the unused bits of the last character changed: not the token issued
            raise PageTokenError("not a page token")
        payload, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if len(payload) < _HEAD.size or not hmac.compare_digest(tag, self._tag(user_id, payload)):
            raise PageTokenError("not a page token of this caller")
        version, created_at = _HEAD.unpack(payload[: _HEAD.size])
        if version != _VERSION:  # only reachable with the secret: a token of a later format
            raise PageTokenError("unknown page token version")
        return Position(created_at, payload[_HEAD.size :].decode())

    def _tag(self, user_id: str, payload: bytes) -> bytes:
        message = _CONTEXT + user_id.encode() + b"\x00" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_TAG_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
