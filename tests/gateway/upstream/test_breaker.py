"""The endpoint breaker: pybreaker's state machine, asyncio-safe admission, one half-open probe."""
from __future__ import annotations

import pytest

from gateway.settings import BreakerSettings
from gateway.upstream.breaker import BreakerOpen, EndpointBreaker
from tests.support.waiting import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def changes() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def breaker(clock: ManualClock, changes: list[tuple[str, str]]) -> EndpointBreaker:
    settings = BreakerSettings(failure_threshold=3, reset_timeout_seconds=10)
    listeners = [lambda _, old, new: changes.append((old, new))]
    return EndpointBreaker("svc@host:1", settings, clock=clock, listeners=listeners)


def fail(breaker: EndpointBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record(breaker.admit(), fault=True)


def test_opens_after_consecutive_faults_only(breaker: EndpointBreaker) -> None:
    fail(breaker, 2)
    breaker.record(breaker.admit(), fault=False)  # a success (or a client error) resets the count
    fail(breaker, 2)
    assert (breaker.state, breaker.failures) == ("closed", 2)
    fail(breaker)
    assert breaker.state == "open"


def test_open_fails_fast_until_the_reset_timeout(breaker: EndpointBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.advance(4)
    with pytest.raises(BreakerOpen) as refused:
        breaker.admit()
    assert refused.value.retry_after == pytest.approx(6)
    assert not breaker.allows_calls()
    assert breaker.retry_after() == pytest.approx(6)


def test_exactly_one_probe_when_half_open(breaker: EndpointBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.advance(10)
    assert breaker.allows_calls()
    probe = breaker.admit()
    assert probe is True and breaker.state == "half_open"
    assert not breaker.allows_calls()
    with pytest.raises(BreakerOpen):
        breaker.admit()  # a second caller while the probe is out
    breaker.record(probe, fault=False)
    assert breaker.state == "closed"
    assert breaker.admit() is False


def test_failed_probe_reopens_for_another_reset_timeout(breaker: EndpointBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.advance(10)
    breaker.record(breaker.admit(), fault=True)
    assert breaker.state == "open"
    clock.advance(9)
    with pytest.raises(BreakerOpen):
        breaker.admit()
    clock.advance(1)
    assert breaker.admit() is True


def test_cancelled_probe_gives_the_next_caller_the_probe(breaker: EndpointBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.advance(10)
    breaker.release(breaker.admit())
    assert breaker.state == "half_open"
    probe = breaker.admit()
    assert probe is True
    breaker.record(probe, fault=False)
    assert breaker.state == "closed"


def test_late_outcomes_do_not_decide(breaker: EndpointBreaker, clock: ManualClock) -> None:
    early = breaker.admit()  # admitted while closed, answers after the breaker opened
    fail(breaker, 3)
    breaker.record(early, fault=False)
    assert breaker.state == "open"
    clock.advance(10)
    probe = breaker.admit()
    breaker.record(early, fault=False)  # still not the probe
    assert breaker.state == "half_open"
    breaker.record(probe, fault=True)
    assert breaker.state == "open"


def test_state_changes_are_reported(breaker: EndpointBreaker, clock: ManualClock, changes: list) -> None:
    fail(breaker, 3)
    clock.advance(10)
    breaker.record(breaker.admit(), fault=False)
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
