"""The JWKS over HTTPS (the internal hop's certificate): the document the file holds, at /.well-known/jwks.json,
usable by a gateway's JWKS_URL; plain HTTP only when the service runs in plaintext."""
from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import httpx
import pytest

from postcardapp.user.v1 import user_service_pb2 as pb
from services.user.server import create_server
from trust.jwks import JwksError
from trust.settings import TokenSettings
from trust.tokens import JwtAuthenticator

from .support import MakeSettings, Serve


async def test_the_jwks_is_served_as_the_file_says_and_nothing_else(
    make_settings: MakeSettings, serve: Serve, pki: Path
) -> None:
    settings = make_settings(jwks_port=0)
    async with serve(settings) as running:
        base = f"https://127.0.0.1:{running.server.http_ports['jwks']}"
        async with httpx.AsyncClient(base_url=base, verify=ssl.create_default_context(cafile=pki / "ca.crt")) as http:
            answer = await http.get("/.well-known/jwks.json")
            assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
            assert answer.json() == json.loads(settings.resolved_jwks_path.read_text())
            assert "max-age" in answer.headers["cache-control"]
            assert (await http.get("/anything-else")).status_code == 404
            assert (await http.post("/.well-known/jwks.json")).status_code == 404


async def test_a_gateway_verifies_a_login_token_with_the_jwks_url(
    make_settings: MakeSettings, serve: Serve, pki: Path
) -> None:
    async with serve(make_settings(jwks_port=0, wechat={"dev_fake": True})) as running:
        token = (await running.stub.Login(pb.LoginRequest(code="any-code"))).token
        url = f"https://localhost:{running.server.http_ports['jwks']}/.well-known/jwks.json"
        # Not trusting the internal CA, a verifier refuses the keys: nobody between can swap them.
        with pytest.raises(JwksError, match="CERTIFICATE_VERIFY_FAILED"):
            await JwtAuthenticator(TokenSettings(jwks_url=url)).start()
        authenticator = JwtAuthenticator(TokenSettings(jwks_url=url, jwks_ca_file=pki / "ca.crt"))
        await authenticator.start()
        try:
            principal = await authenticator.authenticate(f"Bearer {token}")
        finally:
            await authenticator.close()
        assert principal.subject == running.verify(token)["sub"]


async def test_a_busy_jwks_port_names_the_setting(make_settings: MakeSettings) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(OSError, match="USER_SERVICE_JWKS_PORT"):
            await create_server(make_settings(jwks_port=holder.getsockname()[1]))


async def test_a_plaintext_service_serves_plain_http(make_settings: MakeSettings, serve: Serve) -> None:
    settings = make_settings(jwks_port=0, tls={"insecure_plaintext": True})
    async with serve(settings) as running:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{running.server.http_ports['jwks']}/.well-known/jwks.json")
        assert answer.json() == json.loads(settings.resolved_jwks_path.read_text())


async def test_a_silent_client_does_not_hold_the_others(make_settings: MakeSettings, serve: Serve, pki: Path) -> None:
    async with serve(make_settings(jwks_port=0)) as running:
        port = running.server.http_ports["jwks"]
        with socket.create_connection(("127.0.0.1", port)):  # connects, never starts its TLS handshake
            async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=pki / "ca.crt")) as http:
                answer = await http.get(f"https://127.0.0.1:{port}/.well-known/jwks.json", timeout=30)
        assert answer.status_code == 200
