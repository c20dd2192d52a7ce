"""`postcard-probe`: is a process of ours healthy? For container HEALTHCHECKs, compose and scripts/dev.

    postcard-probe http http://127.0.0.1:8080/actuator/health/liveness   # 200 -> exit 0
    postcard-probe grpc 127.0.0.1:50052 [--service NAME]                   # grpc.health.v1 SERVING -> exit 0

Exit 1 otherwise (no answer within --timeout seconds included). The services answer the standard
gRPC health service (the overall server "" by default); the gateway answers its actuator endpoints.
"""
from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def grpc_serving(target: str, service: str = "", timeout: float = 2.0) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
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
    args = parser.parse_args(argv)
    if args.kind == "http":
        return 0 if http_ok(args.target, args.timeout) else 1
    return 0 if grpc_serving(args.target, args.service, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
