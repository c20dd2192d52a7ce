"""Mutual TLS on a real grpc.aio server: who gets in, what the settings refuse, renewal without restart."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic import ValidationError

from trust.certs import Identity, ensure
from trust.tls import InternalTls, TlsError


def tls_of(folder: Path, name: str) -> InternalTls:
    return InternalTls(cert_file=folder / name / "tls.crt", key_file=folder / name / "tls.key",
                       ca_file=folder / name / "ca.crt")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    ensure(folder, [Identity("service"), Identity("gateway")])
    return folder


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Certificates from another CA, same names."""
    folder = tmp_path_factory.mktemp("stranger")
    ensure(folder, [Identity("gateway"), Identity("service")])
    return folder


async def serve(tls: InternalTls) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    files = tls.load()
    assert files is not None
    port = server.add_secure_port("127.0.0.1:0", files.server_credentials())
    await server.start()
    return server, port


async def check(port: int, credentials: grpc.ChannelCredentials | None) -> health_pb2.HealthCheckResponse:
    target = f"127.0.0.1:{port}"
    async with (grpc.aio.secure_channel(target, credentials) if credentials else grpc.aio.insecure_channel(target)) \
            as channel:
        return await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)


def client(folder: Path, name: str = "gateway") -> grpc.ChannelCredentials:
    files = tls_of(folder, name).load()
    assert files is not None
    return files.channel_credentials()


async def test_a_client_with_a_certificate_of_the_ca_is_served(pki: Path) -> None:
    server, port = await serve(tls_of(pki, "service"))
    try:
        assert (await check(port, client(pki))).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(None)


async def test_no_certificate_another_ca_or_plaintext_are_refused(pki: Path, stranger: Path) -> None:
    server, port = await serve(tls_of(pki, "service"))
    try:
        no_certificate = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.crt").read_bytes())
        for credentials in (no_certificate, client(stranger), None):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await check(port, credentials)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)


async def test_the_client_refuses_a_service_of_another_ca(pki: Path, stranger: Path) -> None:
    server, port = await serve(tls_of(stranger, "service"))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await check(port, client(pki))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)


async def test_renewed_files_serve_new_connections_without_a_restart(pki: Path, stranger: Path,
                                                                       tmp_path: Path) -> None:
    live = tmp_path / "live"
    shutil.copytree(pki / "service", live / "service")
    server, port = await serve(tls_of(live, "service"))
    try:
        assert (await check(port, client(pki))).status == health_pb2.HealthCheckResponse.SERVING
        # Rotated to the other CA's files (as a CA change would): the old clients are refused, the new served.
        for name in ("ca.crt", "tls.key", "tls.crt"):
            shutil.copy(stranger / "service" / name, live / "service" / name)
            os.utime(live / "service" / name, ns=(1, 10**18 + len(name)))
        assert (await check(port, client(stranger))).status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError):
            await check(port, client(pki))
    finally:
        await server.stop(None)


async def test_a_half_written_renewal_keeps_the_previous_pair(pki: Path, stranger: Path, tmp_path: Path) -> None:
    live = tmp_path / "live"
    shutil.copytree(pki / "service", live / "service")
    server, port = await serve(tls_of(live, "service"))
    try:
        shutil.copy(stranger / "service" / "tls.crt", live / "service" / "tls.crt")  # the key not yet
        assert (await check(port, client(pki))).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(None)


def test_settings_refuse_plaintext_unless_asked(pki: Path) -> None:
    with pytest.raises(ValidationError, match="TLS__CERT_FILE, TLS__KEY_FILE and TLS__CA_FILE"):
        InternalTls()
    with pytest.raises(ValidationError, match="CA_FILE"):
        InternalTls(cert_file=pki / "service/tls.crt", key_file=pki / "service/tls.key")
    with pytest.raises(ValidationError, match="choose one"):
        InternalTls(insecure_plaintext=True, ca_file=pki / "ca.crt")
    assert InternalTls(insecure_plaintext=True).load() is None


def test_bad_files_are_named(pki: Path, tmp_path: Path) -> None:
    with pytest.raises(TlsError, match=r"missing\.crt"):
        InternalTls(cert_file=tmp_path / "missing.crt", key_file=pki / "service/tls.key",
                    ca_file=pki / "ca.crt").load()
    (tmp_path / "garbage.pem").write_text("not a certificate")
    with pytest.raises(TlsError, match=r"garbage\.pem: not a PEM certificate"):
        InternalTls(cert_file=tmp_path / "garbage.pem", key_file=pki / "service/tls.key",
                    ca_file=pki / "ca.crt").load()
    with pytest.raises(TlsError, match="is not the key of"):
        InternalTls(cert_file=pki / "service/tls.crt", key_file=pki / "gateway/tls.key",
                    ca_file=pki / "ca.crt").load()
