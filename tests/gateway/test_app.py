"""create_app as a whole: start-up refusals, the exception boundary, CORS, settings validation."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.app import create_app
from gateway.routes.table import RouteTableError
from gateway.settings import (
    AuthSettings,
    ContractSettings,
    HttpSettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from tests.support.contracts import ECHO_MODULE, ECHO_SERVICE
from tests.support.echo_server import start_echo_server
from tests.support.http_server import serve
from tests.support.keys import SigningKey


def _settings(tmp_path: Path, port: int = 1, **http: Any) -> Settings:
    return Settings(
        http=HttpSettings(**http),
        auth=AuthSettings(jwks_path=SigningKey().write_jwks(tmp_path / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        contracts=ContractSettings(modules=[ECHO_MODULE]),
        upstreams={ECHO_SERVICE: UpstreamSettings(endpoints=[f"127.0.0.1:{port}"])},
    )


def test_colliding_bindings_stop_start_up(echo_routes: object, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.contracts.modules.append("postcardtest.collide.v1.collide_pb2")
    settings.upstreams["postcardtest.collide.v1.CollideService"] = UpstreamSettings(endpoints=["127.0.0.1:1"])
    with pytest.raises(RouteTableError) as caught:
        create_app(settings)
    assert "CollideService.First" in str(caught.value) and "CollideService.Second" in str(caught.value)


def test_unknown_service_stops_start_up(echo_routes: object, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.upstreams["postcardtest.echo.v1.NoSuchService"] = UpstreamSettings(endpoints=["127.0.0.1:1"])
    with pytest.raises(RouteTableError, match="NoSuchService"):
        create_app(settings)


async def test_exception_boundary_hides_the_failure(echo_routes: object, tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))

    async def boom() -> None:
        raise RuntimeError("secret internals: /etc/passwd")

    # A hand-written route that fails unexpectedly, served by the real app and middleware stack.
    app.app.router.add_api_route("/boom", boom)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/boom", headers={"x-request-id": "trace-me"})
    assert response.status_code == 500
    assert response.json() == {"error": {"code": 500, "status": "INTERNAL", "message": "internal error", "details": []}}
    assert response.headers["x-request-id"] == "trace-me"
    assert "secret" not in response.text and "Traceback" not in response.text


async def test_upstream_down_is_503(echo_routes: object, tmp_path: Path) -> None:
    server, port = await start_echo_server()
    await server.stop(None)  # the port is now closed: nothing listens there
    async with serve(create_app(_settings(tmp_path, port))) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/test/v1/echo/1")
    assert response.status_code == 503
    assert response.json()["error"]["status"] == "UNAVAILABLE"


@pytest.mark.parametrize(
    ("origins", "origin", "allowed"),
    [
        ([], "https://servicewechat.com", False),
        (["https://servicewechat.com"], "https://servicewechat.com", True),
        (["https://servicewechat.com"], "https://evil.example", False),
    ],
)
async def test_cors_origins_come_from_settings(
    echo_routes: object, tmp_path: Path, origins: list[str], origin: str, allowed: bool
) -> None:
    app = create_app(_settings(tmp_path, cors_origins=origins))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        preflight = await http.options(
            "/test/v1/echo/1", headers={"origin": origin, "access-control-request-method": "GET"}
        )
    assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
    if not allowed:  # refused in the common error shape, not Starlette's plain text
        assert preflight.status_code == 403
        assert preflight.json() == {"error": {"code": 403, "status": "PERMISSION_DENIED",
                                              "message": "CORS preflight refused: origin not allowed", "details": []}}
        assert "Origin" in preflight.headers["vary"]


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"jwks_path": "a.json", "jwks_url": "http://127.0.0.1:1/jwks.json"},
        {"jwks_path": "a.json", "algorithms": ["HS256"]},
        {"jwks_path": "a.json", "algorithms": ["none"]},
    ],
)
def test_auth_settings_refuse_unsafe_or_ambiguous_configuration(auth: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(**auth)


def test_the_gateway_refuses_plaintext_upstreams_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_AUTH__JWKS_PATH", "/run/keys/jwks.json")
    monkeypatch.setenv("GATEWAY_UPSTREAMS", '{"a.v1.S": {"endpoints": ["10.0.0.1:50051"]}}')
    with pytest.raises(ValidationError, match="upstream_tls"):
        Settings()  # type: ignore[call-arg]
    monkeypatch.setenv("GATEWAY_UPSTREAM_TLS__CERT_FILE", "/run/tls/tls.crt")
    with pytest.raises(ValidationError, match="GATEWAY_UPSTREAM_TLS__KEY_FILE"):
        Settings()  # type: ignore[call-arg]
    monkeypatch.delenv("GATEWAY_UPSTREAM_TLS__CERT_FILE")
    monkeypatch.setenv("GATEWAY_UPSTREAM_TLS__INSECURE_PLAINTEXT", "true")
    assert Settings().upstream_tls.insecure_plaintext  # type: ignore[call-arg]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_HTTP__PORT", "9001")
    monkeypatch.setenv("GATEWAY_HTTP__HEADER_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("GATEWAY_HTTP__MAX_IN_FLIGHT_REQUESTS", "64")
    monkeypatch.setenv("GATEWAY_AUTH__JWKS_PATH", "/run/keys/jwks.json")
    monkeypatch.setenv("GATEWAY_UPSTREAMS", '{"a.v1.S": {"endpoints": ["10.0.0.1:50051"], "timeout_seconds": 2}}')
    monkeypatch.setenv("GATEWAY_UPSTREAM_TLS__CERT_FILE", "/run/tls/tls.crt")
    monkeypatch.setenv("GATEWAY_UPSTREAM_TLS__KEY_FILE", "/run/tls/tls.key")
    monkeypatch.setenv("GATEWAY_UPSTREAM_TLS__CA_FILE", "/run/tls/ca.crt")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.http.port == 9001
    assert settings.upstream_tls.ca_file == Path("/run/tls/ca.crt") and not settings.upstream_tls.insecure_plaintext
    assert (settings.http.header_timeout_seconds, settings.http.max_in_flight_requests) == (2.5, 64)
    assert settings.auth.jwks_path == Path("/run/keys/jwks.json")
    assert settings.upstreams["a.v1.S"].timeout_seconds == 2


def test_the_cap_on_open_streams_stays_below_the_in_flight_limit() -> None:
    common: dict[str, Any] = {"auth": AuthSettings(jwks_path=Path("a.json")), "upstreams": {},
                              "upstream_tls": UpstreamTlsSettings(insecure_plaintext=True)}
    assert Settings(**common).max_open_streams == 250  # half of the default 500 in-flight requests
    assert Settings(**common, http=HttpSettings(max_in_flight_requests=64)).max_open_streams == 32
    assert Settings(**common, streams={"max_total": 400}).max_open_streams == 400
    with pytest.raises(ValidationError, match="GATEWAY_STREAMS__MAX_TOTAL"):
        Settings(**common, streams={"max_total": 500})  # open streams would leave no room for other requests
