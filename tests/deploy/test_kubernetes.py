"""The Kubernetes manifests: valid against the API's schemas, and wired as the programs need.

Schema validation is kubernetes-validate's (PyPI, schemas bundled: it works offline), strict, so an
unknown field is an error; the rest checks what no schema can: probes on the right endpoints,
headless Services for DNS discovery, grace periods longer than the drains, variables that are real
settings of the program they are given to.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .support import REPO, SETTINGS, entry_points, load_yaml_documents, settings_from, unknown_variables

K8S = REPO / "deploy" / "k8s"
VERSION = "1.31.0"
SECRET_VALUE = "a value from a Secret, long enough for any of them"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("kubernetes-validate", path=str(Path(REPO / ".venv" / "bin"))) or "kubernetes-validate"
    return subprocess.run([binary, "--strict", "--quiet", "-k", VERSION, *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def resources() -> list[dict[str, Any]]:
    return [document for path in MANIFESTS for document in load_yaml_documents(path)]


def named(kind: str, name: str) -> dict[str, Any]:
    return next(r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name)


def containers() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, container) of every Deployment and StatefulSet."""
    return [(r, c) for r in resources() if r["kind"] in ("Deployment", "StatefulSet")
            for c in r["spec"]["template"]["spec"]["containers"]]


def test_every_manifest_is_valid_against_the_schemas() -> None:
    result = validate(*MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_catches_a_mistake(tmp_path: Path) -> None:
    broken = tmp_path / "gateway.yaml"
    broken.write_text((K8S / "gateway.yaml").read_text().replace("periodSeconds: 5", "periodSecond: 5", 1))
    assert validate(broken).returncode != 0


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = load_yaml_documents(K8S / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


@pytest.mark.parametrize(("workload", "container"), [(w["metadata"]["name"], c) for w, c in containers()])
def test_every_container_has_resources_and_probes(workload: str, container: dict[str, Any]) -> None:
    assert {"requests", "limits"} <= set(container["resources"]), workload
    assert "livenessProbe" in container, workload
    if workload != "postcard-worker":  # takes no traffic: nothing to be ready for
        assert "readinessProbe" in container, workload


def test_our_programs_run_the_image_with_real_entry_points_and_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    config = named("ConfigMap", "gateway-config")["data"]
    for workload, container in containers():
        if container["image"] != "postcard-gateway":
            continue
        program = container["command"][0]
        assert program in entry_points(), workload
        variables = {e["name"]: e.get("value", SECRET_VALUE) for e in container.get("env", [])}
        if any("configMapRef" in source for source in container.get("envFrom", [])):
            variables.update(config)
        assert unknown_variables(SETTINGS[program][0], SETTINGS[program][1], variables) == [], workload
        if program == "user-service":
            variables.pop("USER_SERVICE_JWT__PRIVATE_KEY_PATH")  # a file the Secret provides
            variables["USER_SERVICE_JWT__GENERATE_DEV_KEY"] = "true"
        settings_from(monkeypatch, program, variables)  # would start (ValidationError otherwise)


def env_of(workload: str, kind: str = "Deployment") -> dict[str, str]:
    container = named(kind, workload)["spec"]["template"]["spec"]["containers"][0]
    variables = {e["name"]: e.get("value", SECRET_VALUE) for e in container.get("env", [])}
    if any("configMapRef" in source for source in container.get("envFrom", [])):
        variables.update(named("ConfigMap", "gateway-config")["data"])
    return variables


def test_probes_ask_the_endpoints_that_answer() -> None:
    gateway = named("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/actuator/health/liveness"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/actuator/health/readiness"
    # The kubelet's gRPC probes present no client certificate: they ask the plaintext health-only port.
    for name, prefix in (("user-service", "USER_SERVICE_"), ("postcard-service", "POSTCARD_SERVICE_")):
        container = named("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        health_port = int(env_of(name)[f"{prefix}HEALTH_PORT"])
        assert {"name": "health", "containerPort": health_port} in container["ports"]
        assert container["livenessProbe"]["grpc"]["port"] == health_port
        assert container["readinessProbe"]["grpc"]["port"] == health_port


def mounted_from_secret(workload: str, path: str) -> str:
    """The Secret a file of `workload`'s container comes from."""
    pod = named("Deployment", workload)["spec"]["template"]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return str(volume["secret"]["secretName"])


def test_the_internal_hop_is_mutual_tls_with_certificates_from_secrets() -> None:
    for workload, prefix in (("gateway", "GATEWAY_UPSTREAM_TLS__"), ("user-service", "USER_SERVICE_TLS__"),
                             ("postcard-service", "POSTCARD_SERVICE_TLS__")):
        variables = env_of(workload)
        assert f"{prefix}INSECURE_PLAINTEXT" not in variables, workload
        secrets = {mounted_from_secret(workload, variables[f"{prefix}{name}"]) for name in ("CERT_FILE", "KEY_FILE",
                                                                                             "CA_FILE")}
        assert secrets == {f"{workload}-tls"}, workload


def test_the_keys_travel_over_https_checked_against_the_internal_ca() -> None:
    for workload, prefix, tls in (("gateway", "GATEWAY_AUTH__", "GATEWAY_UPSTREAM_TLS__"),
                                  ("postcard-service", "POSTCARD_SERVICE_AUTH__", "POSTCARD_SERVICE_TLS__")):
        variables = env_of(workload)
        url = urlsplit(variables[f"{prefix}JWKS_URL"])
        assert (url.scheme, url.hostname, url.path) == ("https", "user-service", "/.well-known/jwks.json"), workload
        assert url.port == int(env_of("user-service")["USER_SERVICE_JWKS_PORT"])
        assert variables[f"{prefix}JWKS_CA_FILE"] == variables[f"{tls}CA_FILE"], workload


def test_postcard_replicas_share_their_page_token_secret_and_their_queue() -> None:
    service, worker = env_of("postcard-service"), env_of("postcard-worker")
    container = named("Deployment", "postcard-service")["spec"]["template"]["spec"]["containers"][0]
    (secret,) = [e for e in container["env"] if e["name"] == "POSTCARD_SERVICE_PAGE_TOKEN_SECRET"]
    assert "secretKeyRef" in secret["valueFrom"]
    for variables in (service, worker):
        assert variables["POSTCARD_SERVICE_QUEUE__BACKEND"] == "redis"
        assert variables["POSTCARD_SERVICE_QUEUE__REDIS_URL"] == service["POSTCARD_SERVICE_QUEUE__REDIS_URL"]
    redis = urlsplit(service["POSTCARD_SERVICE_QUEUE__REDIS_URL"])
    assert int(redis.port or 6379) in [p["port"] for p in named("Service", str(redis.hostname))["spec"]["ports"]]


def test_grpc_services_are_headless_so_dns_discovery_sees_every_pod() -> None:
    upstreams = json.loads(named("ConfigMap", "gateway-config")["data"]["GATEWAY_UPSTREAMS"])
    for upstream in upstreams.values():
        host, port = upstream["dns"].rsplit(":", 1)
        service = named("Service", host)
        assert service["spec"]["clusterIP"] == "None"
        assert int(port) in [p["port"] for p in service["spec"]["ports"]]


def test_the_gateway_scales_and_survives_disruptions() -> None:
    hpa, pdb = named("HorizontalPodAutoscaler", "gateway"), named("PodDisruptionBudget", "gateway")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway" and hpa["spec"]["minReplicas"] >= 2
    assert pdb["spec"]["selector"]["matchLabels"] == named("Deployment", "gateway")["spec"]["selector"]["matchLabels"]


def test_termination_grace_is_longer_than_drain_and_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = settings_from(monkeypatch, "postcard-gateway", named("ConfigMap", "gateway-config")["data"])
    pod = named("Deployment", "gateway")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > gateway.http.drain_seconds + gateway.http.shutdown_grace_seconds  # type: ignore[attr-defined]
    for name, program in (("user-service", "user-service"), ("postcard-service", "postcard-service")):
        defaults = SETTINGS[program][1].model_fields
        needed = defaults["drain_seconds"].default + defaults["grace_seconds"].default
        assert named("Deployment", name)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > needed
