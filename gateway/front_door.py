"""The gateway's ASGI entry: contract routes take the pipeline's short path, everything else FastAPI.

A request whose method and path match a contract route goes straight to
`Pipeline.serve`, whose stages do what middleware would (request id, tracing,
CORS, errors, metrics, access line) without wrapping `send` eight times.
Everything else (docs, OpenAPI, actuator, hand-written handlers such as
aggregation, CORS preflights, and paths no route serves) goes to the FastAPI
app and its middleware, which apply the same request-id, error-shape and CORS
rules from the same code.
"""
from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from .pipeline import Pipeline


class FrontDoor:
    def __init__(self, pipeline: Pipeline, app: FastAPI) -> None:
        self.pipeline = pipeline
        self.app = app

    @property
    def state(self) -> State:
        """The FastAPI app's state (lifecycle, upstream): what the server runner and tests read."""
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            claimed = self.pipeline.claim(scope)
            if claimed is not None:
                await self.pipeline.serve(scope, receive, send, *claimed)
                return
        await self.app(scope, receive, send)
