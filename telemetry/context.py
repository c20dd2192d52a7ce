"""The request id of the work in progress, as a context variable (visible to everything a request runs).

The gateway binds the id it accepted or made for an HTTP request; a service binds the `x-request-id`
metadata of the call it serves; a worker binds the id carried on the queued task. Log lines read it.
"""
from __future__ import annotations

import re
from contextvars import ContextVar, Token

REQUEST_ID_METADATA = "x-request-id"
# A request id crosses processes and lands in every log line: a short token of safe characters only.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def valid_request_id(value: str | None) -> str | None:
    """`value` when it is 1-128 of [A-Za-z0-9._:-] (the one rule, for the gateway and the services), else None."""
    return value if value is not None and REQUEST_ID_PATTERN.fullmatch(value) else None


def bind_request_id(request_id: str | None) -> Token[str | None]:
    return _current.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    _current.reset(token)


def current_request_id() -> str | None:
    return _current.get()
