"""X-Request-ID: kept from the client when well-formed, else generated; echoed; in every log line.

`accept_request_id` is the one rule; the pipeline applies it as its first
stage, and `RequestIdMiddleware` (pure ASGI) for the routes FastAPI serves.
Either binds the id to a context variable, visible to everything the request
runs: log lines, and the `x-request-id` metadata of every upstream call
(`transcode.context.call_context`).
"""
from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry.context import bind_request_id, current_request_id, unbind_request_id, valid_request_id

__all__ = ["HEADER", "RequestIdMiddleware", "accept_request_id", "bind_request_id", "current_request_id",
           "unbind_request_id"]

HEADER = b"x-request-id"


def accept_request_id(scope: Scope) -> str:
    """The client's X-Request-ID when it is 1-128 of [A-Za-z0-9._:-], else a new random one."""
    for name, value in scope["headers"]:
        if name == HEADER:
            return valid_request_id(value.decode("latin-1")) or new_request_id()
    return new_request_id()


def new_request_id() -> str:
    return os.urandom(16).hex()  # as random as uuid4().hex, a quarter of its cost


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(scope)
        echoed = request_id.encode()
        token = bind_request_id(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(n, v) for n, v in message.get("headers", []) if n.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, echoed)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            unbind_request_id(token)
