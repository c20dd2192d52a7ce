"""The internal hop with real processes: only the internal CA's certificates get in, and only a valid token names
a caller.

A gateway and a postcard-service run as child processes, on mutual TLS as deployed (`tests.support.pki`).
The attacker reaches the service's port directly: first with no certificate (anyone on the network), then with
a certificate of the internal CA (a compromised neighbour, or a debugging session), trying to act as alice.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from tests.support.keys import SigningKey
from tests.support.pki import make_pki, tls_files
from tests.support.system import ProcessSystem


async def list_as(
    target: str, credentials: grpc.ChannelCredentials | None, metadata: Any
) -> pb.ListMyPostcardsResponse:
    channel = grpc.aio.secure_channel(target, credentials) if credentials else grpc.aio.insecure_channel(target)
    async with channel:
        return await pb_grpc.PostcardServiceStub(channel).ListMyPostcards(
            pb.ListMyPostcardsRequest(), metadata=metadata, timeout=10)


async def refused(target: str, credentials: grpc.ChannelCredentials | None, metadata: Any = ()) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await list_as(target, credentials, metadata)
    return error.value.code()


def unsigned(sub: str) -> str:
    """A token with `alg: none` and no signature, claiming to be `sub`."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': sub, 'iss': 'postcardapp-user-service'})}."


async def test_no_certificate_of_the_internal_ca_no_way_in(processes: ProcessSystem, tmp_path: Path) -> None:
    service = await processes.postcard_service("postcard-service")
    target = f"127.0.0.1:{service.port}"
    bearer = processes.token("alice")["authorization"]
    outsider = make_pki(tmp_path / "elsewhere")  # the same names, another CA
    no_certificate = grpc.ssl_channel_credentials(root_certificates=(processes.pki / "ca.crt").read_bytes())
    for credentials in (None, no_certificate, tls_files(outsider, "developer").channel_credentials()):
        # Even with alice's valid token: the handshake fails before any call (the client sees UNAVAILABLE).
        assert await refused(target, credentials, (("authorization", bearer),)) == grpc.StatusCode.UNAVAILABLE
    # Nor does reflection answer: grpcurl without the certificate learns nothing.
    async with grpc.aio.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.aio.AioRpcError):
            async for _ in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                     timeout=10):
                pass


async def test_inside_the_mesh_only_a_valid_token_names_a_caller(processes: ProcessSystem) -> None:
    service = await processes.postcard_service("postcard-service")
    gateway = await processes.gateway("gateway", [service])
    alices = await processes.postcard(gateway, "alice")  # the legitimate path: client -> gateway -> service
    target = f"127.0.0.1:{service.port}"
    neighbour = tls_files(processes.pki, "developer").channel_credentials()  # a certificate of the internal CA

    mallory = processes.token("mallory")["authorization"]
    forged = f"Bearer {SigningKey(kid=processes.key.kid).token(sub='alice')}"  # alice, with a key of its own
    for metadata in ((("x-user-id", "alice"),), (("authorization", forged),),
                     (("authorization", f"Bearer {unsigned('alice')}"),)):
        assert await refused(target, neighbour, metadata) == grpc.StatusCode.UNAUTHENTICATED, metadata
    # A valid token is its own user, whatever else the call claims.
    mine = await list_as(target, neighbour, (("authorization", mallory), ("x-user-id", "alice")))
    assert list(mine.postcards) == []
    theirs = await list_as(target, neighbour, (("authorization", processes.token("alice")["authorization"]),))
    assert [card.postcard_id for card in theirs.postcards] == [alices]


async def test_probes_without_a_certificate_get_health_and_nothing_else(processes: ProcessSystem) -> None:
    service = await processes.postcard_service("postcard-service", POSTCARD_SERVICE_HEALTH_PORT="0")
    [listening] = service.logged("postcard-service listening")
    health_port = listening["health_port"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await pb_grpc.PostcardServiceStub(channel).ListMyPostcards(
                pb.ListMyPostcardsRequest(), metadata=processes.token("alice").items(), timeout=10)
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_gateway_without_the_internal_certificates_never_puts_the_service_in_rotation(
    processes: ProcessSystem,
) -> None:
    service = await processes.postcard_service("postcard-service")
    gateway = await processes.gateway("gateway", [service], upstream_tls=False)
    readiness = await gateway.get("/actuator/health/readiness")
    assert readiness.status_code == 503
    created = await gateway.post("/api/v1/postcards/create", headers=processes.token("alice"),
                                 json={"mood": "calm", "style": "ink", "theme": "rain"})
    assert created.status_code == 503
