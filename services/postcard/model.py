"""The domain type of postcard-service: what a postcard is made from.

Plain data, no generated code: validation builds it from the gRPC request, the store and the
queue persist it, the generator and the artwork read it.
"""
from __future__ import annotations

import hashlib
from dataclasses import astuple, dataclass


@dataclass(frozen=True)
class PostcardRequest:
    """A validated, normalised creation request: what workers generate from."""

    mood: str
    style: str
    theme: str
    recipient: str = ""
    message: str = ""

    def fingerprint(self) -> str:
        """A stable hash of the content, to recognise a retried request under the same idempotency key."""
        return hashlib.sha256("\x1f".join(astuple(self)).encode()).hexdigest()


@dataclass(frozen=True)
class TaskOrigin:
    """The create call a task came from, carried with its queue message: the worker binds the request id
    for its log lines and links its span to the traceparent (W3C). Either is None when unknown."""

    request_id: str | None = None
    traceparent: str | None = None


UNKNOWN_ORIGIN = TaskOrigin()
