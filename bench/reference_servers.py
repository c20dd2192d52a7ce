"""The three reference servers the gateway is measured against, each one run by
`python -m bench.reference_servers {bare,raw,naive} --backend HOST:PORT [--port N]`.

- bare:  FastAPI returning constant JSON of the gateway's answer's size: the cost of HTTP + FastAPI alone.
- raw:   an ASGI app with no framework awaiting one `grpc.aio` call, `MessageToDict`, orjson: the floor of
         any HTTP -> gRPC translator in Python.
- naive: a FastAPI handler awaiting a `grpc.aio` stub and returning `MessageToDict`: what a hand-written
         translator costs with no policy at all.

All serve `GET /api/v1/postcards/{postcard_id}` under uvicorn with uvloop and httptools, one worker, like
the gateway, and pass the client's Authorization header on as `authorization` metadata (they verify
nothing; the stub backend verifies it, for every server alike).
"""
from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import orjson
import uvicorn
from fastapi import FastAPI, Header
from google.protobuf.json_format import MessageToDict
from starlette.types import Receive, Scope, Send

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc

from .stub_backend import postcard

PATH_PREFIX = "/api/v1/postcards/"


def to_json_dict(message: pb.Postcard) -> dict[str, Any]:
    """Proto3 JSON with the proto field names, as the gateway renders it."""
    return MessageToDict(message, preserving_proto_field_name=True)


def bare_app() -> FastAPI:
    app = FastAPI()
    answer = to_json_dict(postcard())

    @app.get(PATH_PREFIX + "{postcard_id}")
    async def get_postcard(postcard_id: str) -> dict[str, Any]:
        return answer

    return app


def naive_app(backend: str) -> FastAPI:
    stubs: dict[str, pb_grpc.PostcardServiceStub] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with grpc.aio.insecure_channel(backend) as channel:
            stubs["postcards"] = pb_grpc.PostcardServiceStub(channel)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get(PATH_PREFIX + "{postcard_id}")
    async def get_postcard(postcard_id: str, authorization: str = Header("")) -> dict[str, Any]:
        reply = await stubs["postcards"].GetPostcard(pb.GetPostcardRequest(postcard_id=postcard_id),
                                                     metadata=(("authorization", authorization),))
        return to_json_dict(reply.postcard)

    return app


class RawAsgiApp:
    """No framework: the lifespan opens the channel, every HTTP request is one GetPostcard call."""

    def __init__(self, backend: str) -> None:
        self._backend = backend
        self._channel: grpc.aio.Channel | None = None
        self._get_postcard: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        postcard_id = scope["path"][len(PATH_PREFIX):]
        authorization = next((value.decode() for name, value in scope["headers"] if name == b"authorization"), "")
        reply = await self._get_postcard(pb.GetPostcardRequest(postcard_id=postcard_id),
                                         metadata=(("authorization", authorization),))
        body = orjson.dumps(to_json_dict(reply.postcard))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._channel = grpc.aio.insecure_channel(self._backend)
                self._get_postcard = pb_grpc.PostcardServiceStub(self._channel).GetPostcard
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._channel is not None:
                    await self._channel.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build(kind: str, backend: str) -> Any:
    if kind == "bare":
        return bare_app()
    if kind == "raw":
        return RawAsgiApp(backend)
    return naive_app(backend)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference_servers", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["bare", "raw", "naive"])
    parser.add_argument("--backend", required=True, help="host:port of the stub backend")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # uvicorn logs "Uvicorn running on http://127.0.0.1:PORT" on stderr, with the bound port when --port 0.
    uvicorn.run(
        build(args.kind, args.backend),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="on",
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
