"""A postcard-service stand-in with constant answers: `python -m bench.stub_backend [--port N]`.

A real `grpc.aio` server of `postcardapp.postcard.v1.PostcardService` (plus
grpc.health.v1 SERVING, so the gateway's health watcher puts it in rotation,
and reflection): `GetPostcard` answers a fixed postcard of realistic size,
`CreatePostcard` a task id, `ListMyPostcards` a few summaries. Its first step
is the real service's: the caller's bearer token verified (`services.common.identity`,
against the JWKS given with `--jwks`, cached), and it touches no database:
every server measured against it pays the same backend cost. With `--tls-dir`
(tls.crt, tls.key, ca.crt) it serves mutual TLS as the services do. Prints
"listening on 127.0.0.1:PORT" on stderr once serving.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from services.common.identity import Callers
from services.common.server import ServiceServer, add_standard_services, bind
from trust.settings import TokenSettings
from trust.tls import TlsFiles

SERVICE = pb.DESCRIPTOR.services_by_name["PostcardService"].full_name
POSTCARD_ID = "9b2f6c1e-4d7a-4c2b-9f3e-1a2b3c4d5e6f"
TASK_ID = "5c8e2a94-7f1b-4e3d-8a6c-0d9e8f7a6b5c"
CREATED_AT = Timestamp(seconds=1_767_225_600, nanos=123_000_000)
# The markup the mini-program renders: a few hundred bytes, as generated cards are.
FRONTEND_CODE = (
    '<view class="postcard postcard--cyberpunk" style="background:linear-gradient(135deg,#0f0c29,#302b63,#24243e)">'
    '<image class="postcard__art" src="/api/v1/postcards/{id}/image" mode="aspectFill"/>'
    '<view class="postcard__body"><text class="postcard__title">生日快乐</text>'
    '<text class="postcard__message">Happy birthday! May the neon never fade and every year shine brighter '
    "than the last one.</text>"
    '<text class="postcard__signature">— with love, from the whole team</text></view>'
    '<view class="postcard__footer"><text class="postcard__mood">开心</text>'
    '<text class="postcard__style">赛博朋克</text></view></view>'
)
CREATE_BODY = {"mood": "开心", "style": "赛博朋克", "theme": "生日快乐", "message": "Happy birthday!"}


def postcard(postcard_id: str = POSTCARD_ID) -> pb.Postcard:
    """The fixed postcard every GetPostcard answers (with the asked id)."""
    return pb.Postcard(
        postcard_id=postcard_id,
        task_id=TASK_ID,
        frontend_code=FRONTEND_CODE.format(id=postcard_id),
        image_url=f"/api/v1/postcards/{postcard_id}/image",
        mood="开心",
        style="赛博朋克",
        theme="生日快乐",
        recipient="Alice",
        message="Happy birthday! May the neon never fade.",
        created_at=CREATED_AT,
    )


def summaries(count: int = 5) -> list[pb.PostcardSummary]:
    return [
        pb.PostcardSummary(
            postcard_id=f"{POSTCARD_ID[:-2]}{i:02d}",
            image_url=f"/api/v1/postcards/{POSTCARD_ID[:-2]}{i:02d}/image",
            mood="开心",
            style="赛博朋克",
            theme="生日快乐",
            created_at=CREATED_AT,
        )
        for i in range(count)
    ]


class ConstantPostcards(pb_grpc.PostcardServiceServicer):
    """Constant answers, built once: the backend should cost as little as it can."""

    def __init__(self, callers: Callers) -> None:
        self._callers = callers
        self._list = pb.ListMyPostcardsResponse(postcards=summaries())
        self._created = pb.CreatePostcardResponse(task_id=TASK_ID)

    async def GetPostcard(
        self, request: pb.GetPostcardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPostcardResponse:
        await self._callers.require(context)
        return pb.GetPostcardResponse(postcard=postcard(request.postcard_id or POSTCARD_ID))

    async def CreatePostcard(
        self, request: pb.CreatePostcardRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreatePostcardResponse:
        await self._callers.require(context)
        return self._created

    async def ListMyPostcards(
        self, request: pb.ListMyPostcardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMyPostcardsResponse:
        await self._callers.require(context)
        return self._list


async def serve(port: int, jwks: Path, tls_dir: Path | None) -> None:
    callers = Callers(TokenSettings(jwks_path=jwks))
    await callers.start()
    server = grpc.aio.server()
    pb_grpc.add_PostcardServiceServicer_to_server(ConstantPostcards(callers), server)
    health = add_standard_services(server, [SERVICE])
    tls = TlsFiles(tls_dir / "tls.crt", tls_dir / "tls.key", tls_dir / "ca.crt") if tls_dir else None
    bound = bind(server, "127.0.0.1", port, tls)
    service = ServiceServer(server, health, [SERVICE])
    await service.start()  # health SERVING once started
    print(f"listening on 127.0.0.1:{bound}", file=sys.stderr, flush=True)
    await service.wait_for_termination()  # the benchmark ends it with SIGTERM


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stub_backend", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--jwks", type=Path, required=True, help="the JWKS file the callers' tokens verify against")
    parser.add_argument("--tls-dir", type=Path, help="serve mutual TLS with tls.crt, tls.key, ca.crt from here")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.jwks, args.tls_dir))


if __name__ == "__main__":
    main()
