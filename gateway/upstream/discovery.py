"""Where a service's endpoints are: a static list, or every address of a DNS name, re-resolved.

A Kubernetes headless service resolves to one address per ready pod; resolving
it again every `dns_refresh_seconds` lets the pool follow scale-out, restarts
and rollouts. A failed resolution keeps the last known set.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_all(host: str, port: int) -> list[str]:
    """Every address of `host` as a gRPC target "ip:port" ("[ip6]:port"), sorted; OSError when it does not resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({_target(str(info[4][0]), port) for info in infos})


def split_host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


def _target(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ipaddress.ip_address(address).version == 6 else f"{address}:{port}"
