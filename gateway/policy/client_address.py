"""The client's IP address, for limits on unauthenticated callers.

The TCP peer, unless the peer is a configured trusted proxy: then
`X-Forwarded-For` is read right to left, skipping trusted proxies, and the
first address that is not one is the client (the leftmost entries were written
by the client itself and prove nothing). With no trusted proxies configured the
header is ignored, so a client cannot choose its own rate-limit key.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_FOR = b"x-forwarded-for"


class ClientAddress:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted: tuple[_Network, ...] = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)

    def of(self, scope: Scope) -> str:
        client = scope.get("client")
        peer: str = client[0] if client else "unknown"
        if not self._trusted or not self._is_trusted(peer):
            return peer
        hops: list[str] = [
            hop.strip()
            for name, value in scope["headers"]
            if name == _FORWARDED_FOR
            for hop in value.decode("latin-1").split(",")
        ]
        nearest = peer
        for hop in reversed(hops):
            if not _is_ip(hop):
                break  # garbage in the chain: trust no further than the last proxy we know
            if not self._is_trusted(hop):
                return hop
            nearest = hop
        return nearest

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
