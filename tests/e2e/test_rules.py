"""The contract's rules, enforced twice from one declaration: the gateway refuses first, the service says the same.

The gateway checks a transcoded request before any upstream call; a service called directly (as
grpcurl would, with the identity metadata the gateway sets) refuses the same request with the same
message and the same google.rpc.BadRequest, which the gateway passes on as `details`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_status import rpc_status

from gateway.settings import POSTCARD_SERVICE, USER_SERVICE
from postcardapp.postcard.v1 import postcard_service_pb2 as postcard_pb2
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as postcard_grpc
from postcardapp.user.v1 import user_service_pb2 as user_pb2
from postcardapp.user.v1 import user_service_pb2_grpc as user_grpc
from tests.e2e.conftest import VALID_POSTCARD, System, bearer
from tests.support.http_errors import assert_error
from tests.support.pki import tls_files

pytestmark = pytest.mark.asyncio(loop_scope="package")

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("login", "/api/v1/users/login", {"code": "   "}),
    ("create", "/api/v1/postcards/create", {**VALID_POSTCARD, "mood": "", "theme": "t" * 201, "message": "\u0000"}),
    ("create", "/api/v1/postcards/create", {**VALID_POSTCARD, "recipient": "line\nbreak"}),
]


async def _direct(system: System, kind: str, body: dict[str, Any], token: str, pki: Path) -> grpc.aio.AioRpcError:
    """The same request straight to the service, as an engineer with grpcurl would send it."""
    service = USER_SERVICE if kind == "login" else POSTCARD_SERVICE
    target = system.gateway_settings.upstreams[service].endpoints[0]
    async with grpc.aio.secure_channel(target, tls_files(pki, "developer").channel_credentials()) as channel:
        try:
            if kind == "login":
                await user_grpc.UserServiceStub(channel).Login(user_pb2.LoginRequest(**body))
            else:
                await postcard_grpc.PostcardServiceStub(channel).CreatePostcard(
                    postcard_pb2.CreatePostcardRequest(**body), metadata=bearer(token).items()
                )
        except grpc.aio.AioRpcError as error:
            return error
    raise AssertionError("the service accepted a request breaking its rules")


@pytest.mark.parametrize(("kind", "path", "body"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_gateway_and_service_refuse_alike(
    system: System, pki: Path, kind: str, path: str, body: dict[str, Any]
) -> None:
    token = await system.login()
    tasks_before = system.count_rows("tasks")

    response = await system.http.post(path, json=body, headers=bearer(token))
    direct = await _direct(system, kind, body, token, pki)

    error = assert_error(response, 400, "INVALID_ARGUMENT")
    assert direct.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(direct)  # type: ignore[arg-type]
    assert status is not None
    assert error["message"] == direct.details() == status.message
    assert error["details"] == [json_format.MessageToDict(d, preserving_proto_field_name=True) for d in status.details]
    assert system.count_rows("tasks") == tasks_before
