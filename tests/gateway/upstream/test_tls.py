"""The gateway's channels over mutual TLS, against a real backend serving it as the services do."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.errors import GatewayError
from gateway.settings import FallbackSettings, HealthCheckSettings, UpstreamSettings
from gateway.upstream.call import CallContext
from gateway.upstream.client import Upstream
from gateway.upstream.rpc import RpcCatalog
from tests.support.flaky_server import FLAKY_SERVICE, FlakyBackend
from tests.support.pki import tls_files

READ = f"{FLAKY_SERVICE}.Read"
FAST_HEALTH = HealthCheckSettings(reconnect_initial_seconds=0.05, reconnect_max_seconds=0.2)


def gateway_credentials(pki: Path) -> grpc.ChannelCredentials:
    return tls_files(pki, "gateway").channel_credentials()


async def read(settings: UpstreamSettings, catalog: RpcCatalog, credentials: grpc.ChannelCredentials | None) -> Any:
    upstream = Upstream({FLAKY_SERVICE: settings}, FallbackSettings(), credentials=credentials)
    await upstream.start(first_report_timeout=10)
    try:
        context = CallContext(metadata=(), user_id=None, client_deadline=None, idempotency_key=False)
        return await upstream.call(catalog[READ], catalog[READ].request_class(key="k"), context)
    finally:
        await upstream.close()


async def test_calls_and_health_go_over_mutual_tls(flaky_catalog: RpcCatalog, pki: Path) -> None:
    async with FlakyBackend("a", tls=tls_files(pki, "postcard-service")) as backend:
        reply = await read(UpstreamSettings(endpoints=[backend.target], health=FAST_HEALTH), flaky_catalog,
                           gateway_credentials(pki))
        assert reply.message.served_by == "a"


async def test_a_plaintext_gateway_never_reaches_a_tls_service(flaky_catalog: RpcCatalog, pki: Path) -> None:
    async with FlakyBackend("a", tls=tls_files(pki, "postcard-service")) as backend:
        with pytest.raises(GatewayError) as refused:
            await read(UpstreamSettings(endpoints=[backend.target], health=FAST_HEALTH), flaky_catalog, None)
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE
        assert backend.calls[READ.rpartition(".")[2]] == 0


async def test_the_service_certificate_must_carry_the_expected_name(
    flaky_catalog: RpcCatalog, pki: Path, caplog: Any
) -> None:
    caplog.set_level("INFO", logger="gateway.upstream.health")
    async with FlakyBackend("a", tls=tls_files(pki, "postcard-service")) as backend:
        with pytest.raises(GatewayError):
            await read(UpstreamSettings(endpoints=[backend.target], health=FAST_HEALTH,
                                        tls_server_name="user-service"), flaky_catalog, gateway_credentials(pki))
        # the endpoint's health line names the refused certificate, not only UNREACHABLE
        (line,) = [r for r in caplog.records if r.getMessage() == "endpoint health UNREACHABLE"]
        assert line.error.startswith("UNAVAILABLE: ") and "verification" in line.error.lower()
        named = UpstreamSettings(endpoints=[backend.target], health=FAST_HEALTH, tls_server_name="postcard-service")
        reply = await read(named, flaky_catalog, gateway_credentials(pki))
        assert reply.message.served_by == "a"


async def test_dns_discovered_addresses_are_checked_against_the_dns_name(flaky_catalog: RpcCatalog, pki: Path) -> None:
    # "localhost" resolves to addresses; the certificate is checked for the name "localhost", which it carries.
    async with FlakyBackend("a", tls=tls_files(pki, "postcard-service")) as backend:
        reply = await read(UpstreamSettings(dns=f"localhost:{backend.port}", health=FAST_HEALTH), flaky_catalog,
                           gateway_credentials(pki))
        assert reply.message.served_by == "a"
