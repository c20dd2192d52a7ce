"""`postcard-probe`: is a process of ours healthy? For container HEALTHCHECKs, compose and scripts/dev.

    postcard-probe http http://127.0.0.1:8080/actuator/health/liveness   # 200 -> exit 0
    postcard-probe grpc 127.0.0.1:50052 [--service NAME]                   # grpc.health.v1 SERVING -> exit 0
    postcard-probe grpc localhost:50052 --cacert ca.crt --cert tls.crt --key tls.key   # over mutual TLS

Exit 1 otherwise (no answer within --timeout seconds included). The services answer the standard
gRPC health service (the overall server "" by default) on their mutual-TLS port (the flags are
grpcurl's), or in plaintext on their health-only port (`*_HEALTH_PORT`); the gateway answers its
actuator endpoints.
"""
from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def grpc_serving(
    target: str, service: str = "", timeout: float = 2.0, tls: tuple[Path, Path, Path] | None = None
) -> bool:
    """`tls`: (CA, certificate, key) files for a mutual-TLS port; None for plaintext."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    if tls is None:
        channel = grpc.insecure_channel(target)
    else:
        ca, cert, key = (path.read_bytes() for path in tls)
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(ca, key, cert))
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                              timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="postcard-probe", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["http", "grpc"])
    parser.add_argument("target", help="a URL (http) or host:port (grpc)")
    parser.add_argument("--service", default="", help='grpc: the service name asked about ("" = the server)')
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--cacert", type=Path, help="grpc over mutual TLS: the CA the service's certificate has")
    parser.add_argument("--cert", type=Path, help="grpc over mutual TLS: the client certificate")
    parser.add_argument("--key", type=Path, help="grpc over mutual TLS: the client certificate's key")
    args = parser.parse_args(argv)
    if args.kind == "http":
        return 0 if http_ok(args.target, args.timeout) else 1
    files = (args.cacert, args.cert, args.key)
    if any(files) and not all(files):
        parser.error("--cacert, --cert and --key go together")
    try:
        tls = files if all(files) else None
        return 0 if grpc_serving(args.target, args.service, args.timeout, tls) else 1
    except OSError as error:
        print(f"postcard-probe: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
