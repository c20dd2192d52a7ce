"""The client address used as the rate-limit key of unauthenticated callers."""
from __future__ import annotations

import pytest

from gateway.policy.client_address import ClientAddress


def scope(peer: str, *forwarded: str) -> dict:
    return {"client": (peer, 5000), "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]}


@pytest.mark.parametrize(
    ("trusted", "request_scope", "client"),
    [
        # No trusted proxies: the header is the client's own claim and is ignored.
        ([], scope("203.0.113.9", "1.2.3.4"), "203.0.113.9"),
        # An untrusted peer cannot choose its key either.
        (["10.0.0.0/8"], scope("203.0.113.9", "1.2.3.4"), "203.0.113.9"),
        # Behind a trusted proxy: the address it saw.
        (["10.0.0.0/8"], scope("10.0.0.2", "198.51.100.7"), "198.51.100.7"),
        # A spoofed leftmost entry is skipped: the rightmost untrusted address wins.
        (["10.0.0.0/8"], scope("10.0.0.2", "1.1.1.1, 198.51.100.7, 10.0.0.5"), "198.51.100.7"),
        # Several header lines are one list.
        (["10.0.0.0/8"], scope("10.0.0.2", "1.1.1.1", "198.51.100.7"), "198.51.100.7"),
        # Only proxies in the chain: the farthest one.
        (["10.0.0.0/8"], scope("10.0.0.2", "10.0.0.9"), "10.0.0.9"),
        # Garbage: trust no further than the last known proxy.
        (["10.0.0.0/8"], scope("10.0.0.2", "1.1.1.1, not-an-ip"), "10.0.0.2"),
        (["10.0.0.2", "2001:db8::/32"], scope("2001:db8::1", "2001:db9::5"), "2001:db9::5"),
        ([], {"client": None, "headers": []}, "unknown"),
    ],
)
def test_client_address(trusted: list[str], request_scope: dict, client: str) -> None:
    assert ClientAddress(trusted).of(request_scope) == client
