"""What the benchmark runs: the stub backend, the gateway (with its environment), the reference servers.

The gateway's configuration is `gateway_env`, the one place to add settings
(tracing, metrics, ...) as the gateway gains them.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from gateway.grpc_runtime import GRPC_EXPERIMENTS
from gateway.settings import POSTCARD_SERVICE

from .processes import Children, Server

START_TIMEOUT_SECONDS = 60  # generous: four Python servers start at once on a small, shared machine
REFERENCES = {
    "bare": "bare FastAPI, constant JSON",
    "raw": "raw ASGI + grpc.aio + orjson",
    "naive": "naive FastAPI + grpc.aio",
}
# The grpc setting `python -m gateway` applies (gateway/grpc_runtime.py), for the rows that compare with it.
GATEWAY_GRPC = {"GRPC_EXPERIMENTS": GRPC_EXPERIMENTS}


def gateway_env(backend: str, jwks_path: Path, tls_dir: Path | None = None) -> dict[str, str]:
    """The gateway's whole configuration: the full pipeline, as in production, with limits no run reaches.

    The upstream hop is plaintext, the references' hop, so that the rows compare the same work; with `tls_dir`
    (the gateway's tls.crt, tls.key, ca.crt) it is mutual TLS, as deployed.
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OTEL_"))}  # no stray settings
    tls = ({f"GATEWAY_UPSTREAM_TLS__{name.upper()}_FILE": str(tls_dir / file)
            for name, file in (("cert", "tls.crt"), ("key", "tls.key"), ("ca", "ca.crt"))}
           if tls_dir else {"GATEWAY_UPSTREAM_TLS__INSECURE_PLAINTEXT": "true"})
    return {
        **inherited,
        "GATEWAY_UPSTREAMS": json.dumps({POSTCARD_SERVICE: {"endpoints": [backend]}}),  # health watch + breaker
        **tls,
        "GATEWAY_AUTH__JWKS_PATH": str(jwks_path),  # Ed25519 tokens, verified once each then cached
        # Raised so that none rejects; the limiter still counts every request (moving window, in memory).
        "GATEWAY_RATE_LIMIT__DEFAULT": "1000000/second",
        "GATEWAY_RATE_LIMIT__ROUTES": "{}",
        "GATEWAY_LOG_LEVEL": "INFO",  # the production level: one access line per request
        # Tracing configured but not exporting: the provider, the server span and the client span per try run,
        # and each call carries a traceparent; the sampler records none, so nothing is exported (and nothing
        # listens at the endpoint). What a sampled request adds is the exporter's work, not the hot path's.
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9",
        "OTEL_TRACES_SAMPLER": "always_off",
        "GATEWAY_HTTP__DRAIN_SECONDS": "0",  # the benchmark stops it at the end; draining is not measured
    }


def start_stub(children: Children, cpus: set[int] | None, jwks_path: Path, tls_dir: Path | None = None,
               name: str = "stub-backend") -> Server:
    args = ["bench.stub_backend", "--jwks", str(jwks_path), *(["--tls-dir", str(tls_dir)] if tls_dir else [])]
    stub = children.start_server(name, args, cpus=cpus)
    stub.wait_listening(START_TIMEOUT_SECONDS)
    return stub


def start_gateway(children: Children, backend: str, jwks_path: Path, cpus: set[int] | None,
                  *, name: str = "gateway", port: int = 0, workers: int | None = None,
                  tls_dir: Path | None = None) -> Server:
    args = ["gateway", "--port", str(port), *(["--workers", str(workers)] if workers else [])]
    return children.start_server(name, args, cpus=cpus, env=gateway_env(backend, jwks_path, tls_dir))


def start_reference(children: Children, kind: str, backend: str, cpus: set[int] | None, *,
                    name: str | None = None, env: dict[str, str] | None = None) -> Server:
    return children.start_server(name or kind, ["bench.reference_servers", kind, "--backend", backend], cpus=cpus,
                                 env=env)


def gateway_supports_workers(children: Children) -> bool:
    """Whether `python -m gateway` takes `--workers N` (read from its --help)."""
    return "--workers" in children.run([sys.executable, "-m", "gateway", "--help"], cpus=None, timeout=60)


def free_port() -> int:
    """A free ephemeral port on 127.0.0.1, for servers whose workers each bind it (SO_REUSEPORT): port 0 would
    give each worker another port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
