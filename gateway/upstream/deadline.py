"""Deadlines: every upstream call has one; a client may shorten it, never lengthen it.

A call's deadline is the contract's `timeout`, else the service's default
(`timeout_seconds`). A client's `grpc-timeout` header (the gRPC wire format:
at most 8 digits and a unit, H M S m u n) sets a deadline for the whole request
that every call it makes must also meet. Times are on the monotonic clock.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_GRPC_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


class InvalidTimeout(ValueError):
    """A grpc-timeout header that does not follow the gRPC wire format."""


def parse_grpc_timeout(value: str) -> float:
    """Seconds of a `grpc-timeout` value such as "500m" or "2S"; InvalidTimeout otherwise (also for 0)."""
    match = _GRPC_TIMEOUT.fullmatch(value.strip())
    if match is None:
        raise InvalidTimeout(
            "grpc-timeout must be 1-8 digits followed by a unit H, M, S, m, u or n (for example 500m)"
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise InvalidTimeout("grpc-timeout must be greater than zero")
    return seconds


@dataclass(frozen=True, slots=True)
class Deadline:
    """When one upstream call must be answered, and whether the client's own deadline set it."""

    at: float  # monotonic seconds
    set_by_client: bool

    @classmethod
    def for_call(cls, now: float, timeout_seconds: float, client_deadline: float | None) -> Deadline:
        """The earlier of `now + timeout_seconds` (the gateway's) and the client's deadline."""
        ours = now + timeout_seconds
        if client_deadline is not None and client_deadline < ours:
            return cls(client_deadline, set_by_client=True)
        return cls(ours, set_by_client=False)

    def remaining(self, now: float) -> float:
        return self.at - now
