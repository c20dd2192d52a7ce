"""grpc-timeout parsing and how a call's deadline is chosen."""
from __future__ import annotations

import pytest

from gateway.upstream.deadline import Deadline, InvalidTimeout, parse_grpc_timeout


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1H", 3600), ("2M", 120), ("3S", 3), ("500m", 0.5), ("250u", 250e-6), ("7n", 7e-9), ("99999999S", 99999999)],
)
def test_valid(value: str, seconds: float) -> None:
    assert parse_grpc_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "S", "10", "1.5S", "-1S", "123456789S", "10s ms", "10x", "0S", "１S"])
def test_invalid(value: str) -> None:
    with pytest.raises(InvalidTimeout):
        parse_grpc_timeout(value)


def test_the_gateway_deadline_when_the_client_sets_none_or_a_later_one() -> None:
    assert Deadline.for_call(100, 5, None) == Deadline(105, set_by_client=False)
    assert Deadline.for_call(100, 5, 300) == Deadline(105, set_by_client=False)  # never lengthened


def test_a_client_may_shorten_it() -> None:
    deadline = Deadline.for_call(100, 5, 101.5)
    assert deadline == Deadline(101.5, set_by_client=True)
    assert deadline.remaining(101) == pytest.approx(0.5)
