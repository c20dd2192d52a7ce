"""deploy/compose.yaml, read the way compose and our programs will (no container engine here).

What is checked is the wiring no engine would catch until the system misbehaves: real entry points,
variables that are settings of the program given them (a typo would be ignored silently), and every
address one container gives for another naming a service that listens there.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from .support import REPO, SETTINGS, entry_points, load_yaml_documents, settings_from, unknown_variables

DEPLOY = REPO / "deploy"
(COMPOSE,) = load_yaml_documents(DEPLOY / "compose.yaml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: service for name, service in SERVICES.items() if service.get("image") == "postcard-gateway:local"}


def environment(name: str) -> dict[str, str]:
    return {key: str(value) for key, value in SERVICES[name].get("environment", {}).items()}


def program(name: str) -> str:
    return str(SERVICES[name]["command"][0])


def grpc_port(name: str, monkeypatch: pytest.MonkeyPatch) -> int:
    return int(settings_from(monkeypatch, program(name), environment(name)).port)  # type: ignore[attr-defined]


def test_our_containers_run_real_entry_points_with_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(OURS) == {"certs", "gateway-1", "gateway-2", "user-service", "postcard-service", "postcard-worker"}
    for name in set(OURS) - {"certs"}:
        assert program(name) in entry_points(), name
        prefix, settings = SETTINGS[program(name)]
        assert unknown_variables(prefix, settings, environment(name)) == [], name
        settings_from(monkeypatch, program(name), environment(name))  # would start (ValidationError otherwise)


def test_gateways_find_every_replica_of_the_services_by_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    for gateway in ("gateway-1", "gateway-2"):
        upstreams = json.loads(environment(gateway)["GATEWAY_UPSTREAMS"])
        assert set(upstreams) == {"postcardapp.user.v1.UserService", "postcardapp.postcard.v1.PostcardService"}
        for upstream in upstreams.values():
            host, port = upstream["dns"].rsplit(":", 1)
            assert host in OURS and int(port) == grpc_port(host, monkeypatch), upstream
            assert SERVICES[gateway]["depends_on"][host]["condition"] == "service_healthy"


def test_gateways_and_services_verify_tokens_with_the_user_services_keys_over_https() -> None:
    for name, prefix in (("gateway-1", "GATEWAY_AUTH__"), ("postcard-service", "POSTCARD_SERVICE_AUTH__")):
        url = urlsplit(environment(name)[f"{prefix}JWKS_URL"])
        assert (url.scheme, url.hostname, url.port, url.path) == (
            "https", "user-service", int(environment("user-service")["USER_SERVICE_JWKS_PORT"]),
            "/.well-known/jwks.json"), name
        assert environment(name)[f"{prefix}JWKS_CA_FILE"].startswith("/tls/"), name


def test_every_hop_is_mutual_tls_with_the_certificates_the_certs_service_issues() -> None:
    certs = SERVICES["certs"]
    assert certs["command"][0] == "postcard-certs" and certs["restart"] == "no"
    folder, *identities = certs["command"][1:]
    assert [volume.split(":")[1] for volume in certs["volumes"]] == [folder]
    for name, identity, prefix in (("gateway-1", "gateway", "GATEWAY_UPSTREAM_TLS__"),
                                   ("gateway-2", "gateway", "GATEWAY_UPSTREAM_TLS__"),
                                   ("user-service", "user-service", "USER_SERVICE_TLS__"),
                                   ("postcard-service", "postcard-service", "POSTCARD_SERVICE_TLS__")):
        variables = environment(name)
        assert identity in identities
        assert {variables[f"{prefix}{f}"] for f in ("CERT_FILE", "KEY_FILE", "CA_FILE")} == {
            f"{folder}/{identity}/{file}" for file in ("tls.crt", "tls.key", "ca.crt")}, name
        assert f"{prefix}INSECURE_PLAINTEXT" not in variables, name
        assert f"tls:{folder}:ro" in SERVICES[name]["volumes"], name
    for name in ("user-service", "postcard-service"):
        assert SERVICES[name]["depends_on"]["certs"] == {"condition": "service_completed_successfully"}
    # Each service's certificate names the DNS name the gateways check it against.
    for upstream in json.loads(environment("gateway-1")["GATEWAY_UPSTREAMS"]).values():
        assert upstream["dns"].rsplit(":", 1)[0] in identities


def test_gateways_share_their_rate_limits_in_redis() -> None:
    for gateway in ("gateway-1", "gateway-2"):
        storage = urlsplit(environment(gateway)["GATEWAY_RATE_LIMIT__STORAGE_URI"])
        assert (storage.scheme, storage.hostname, storage.port) == ("async+redis", "redis", 6379)
    assert "redis-server" in SERVICES["redis"]["command"]


def test_postcard_service_and_workers_share_one_database_and_one_queue() -> None:
    service, worker = environment("postcard-service"), environment("postcard-worker")
    assert service["POSTCARD_SERVICE_DB_PATH"] == worker["POSTCARD_SERVICE_DB_PATH"]
    for variables in (service, worker):
        assert variables["POSTCARD_SERVICE_QUEUE__BACKEND"] == "redis"
        assert urlsplit(variables["POSTCARD_SERVICE_QUEUE__REDIS_URL"]).hostname == "redis"
    assert "--appendonly" in SERVICES["redis"]["command"]  # relayed entries live only in Redis
    database_dir = service["POSTCARD_SERVICE_DB_PATH"].rsplit("/", 1)[0]
    for name in ("postcard-service", "postcard-worker"):
        mounts = [volume.split(":") for volume in SERVICES[name]["volumes"]]
        assert [source for source, target, *_ in mounts if target == database_dir] == ["postcard-data"], name
    # Tasks go to the separate workers: an embedded worker in every service replica would compete with them.
    assert "--no-embedded-worker" in SERVICES["postcard-service"]["command"]


def test_health_checks_ask_each_service_on_its_health_port(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gRPC port wants a client certificate; the plaintext health-only port answers the same statuses.
    for name, prefix in (("user-service", "USER_SERVICE_"), ("postcard-service", "POSTCARD_SERVICE_")):
        test = SERVICES[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "postcard-probe", "grpc"]
        assert test[3] == f"127.0.0.1:{environment(name)[f'{prefix}HEALTH_PORT']}"
        assert environment(name)[f"{prefix}HEALTH_PORT"] != str(grpc_port(name, monkeypatch))


def test_every_process_sends_traces_to_the_collector_and_the_collector_to_jaeger() -> None:
    for name in set(OURS) - {"certs"}:
        endpoint = urlsplit(environment(name)["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert (endpoint.hostname, endpoint.port) == ("otel-collector", 4317), name
        assert environment(name)["OTEL_SERVICE_NAME"], name
    (collector,) = load_yaml_documents(DEPLOY / "otel-collector.yaml")
    assert collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    (pipeline,) = collector["service"]["pipelines"].values()
    (exporter,) = pipeline["exporters"]
    assert collector["exporters"][exporter]["endpoint"].split(":")[0] == "jaeger"
    mounted = SERVICES["otel-collector"]["volumes"][0].split(":")
    assert (DEPLOY / mounted[0]).resolve() == DEPLOY / "otel-collector.yaml"
    assert f"--config={mounted[1]}" in SERVICES["otel-collector"]["command"]
