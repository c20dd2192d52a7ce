"""A pybreaker circuit breaker around one endpoint channel, made safe for asyncio.

pybreaker has no asyncio support (its `call()` and decorator would judge an
un-awaited coroutine) and lets every caller through while half-open. So the
breaker is used in two steps around the awaited call:

    probe = breaker.admit()           # BreakerOpen (fail fast), or admitted
    ... await the gRPC call ...
    breaker.record(probe, fault)      # the outcome, replayed through pybreaker's state machine
    breaker.release(probe)            # instead, when the call was cancelled: no verdict

pybreaker keeps the states, the consecutive-failure count and the listeners.
This class decides who may call: while open, nobody until `reset_timeout`
(on an injectable monotonic clock) has passed; then exactly one probe, whose
outcome alone closes or reopens the breaker. Outcomes that arrive after the
breaker opened are dropped. Only backend faults count as failures (see
`BACKEND_FAULTS`); a client's error such as NOT_FOUND is an answer from a live
backend, which pybreaker counts as a success.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, Literal

import grpc
import pybreaker

from ..errors import GatewayError
from ..settings import BreakerSettings

log = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]
# pybreaker's names -> ours (Resilience4j's, as the health endpoint reports them).
_STATES: dict[str, State] = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_OPEN: "open",
    pybreaker.STATE_HALF_OPEN: "half_open",
}

# What a breaker counts against an endpoint. Connection failures reach us as UNAVAILABLE. RESOURCE_EXHAUSTED
# counts, except a deliberate refusal of a live backend (`is_backend_fault`).
BACKEND_FAULTS = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


def is_backend_fault(error: GatewayError) -> bool:
    """Whether a failed call counts against its endpoint (breaker) and its service (fallbacks).

    BACKEND_FAULTS, but not a refusal (`errors.is_refusal`: RESOURCE_EXHAUSTED with RetryInfo or
    QuotaFailure, such as the postcard-service's admission control): a live service saying "not now" to
    one caller must not open a breaker that would then refuse every caller and every method.
    """
    return error.code in BACKEND_FAULTS and not error.refusal


class BreakerOpen(Exception):
    """The breaker refuses the call; `retry_after` is the time until it lets a probe through."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("circuit breaker open")
        self.retry_after = retry_after


class _Fault(Exception):
    """Stands for a failed call when the outcome is replayed into pybreaker."""


def _succeed() -> None:
    return None


def _fail() -> None:
    raise _Fault


StateListener = Callable[[str, State, State], None]  # (breaker name, old, new)


class EndpointBreaker:
    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        listeners: list[StateListener] | None = None,
    ) -> None:
        self.name = name
        self._reset_timeout = settings.reset_timeout_seconds
        self._clock = clock
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._listeners = list(listeners or [])
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=settings.failure_threshold,
            reset_timeout=settings.reset_timeout_seconds,
            success_threshold=1,
            throw_new_error_on_trip=False,  # keep the outcome's own exception; we swallow it anyway
            listeners=[_Relay(self)],
            name=name,
        )

    @property
    def state(self) -> State:
        return _STATES[self._breaker.current_state]

    @property
    def failures(self) -> int:
        """Consecutive backend faults counted so far (reset by a success)."""
        return self._breaker.fail_counter

    def allows_calls(self) -> bool:
        """Whether `admit` would let a call through now (the picker skips endpoints where it would not)."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return self._clock() - self._opened_at >= self._reset_timeout
        return not self._probe_in_flight

    def retry_after(self) -> float:
        """Seconds until this breaker may let a call through (0 when it would now)."""
        if self.state == "open":
            return max(0.0, self._opened_at + self._reset_timeout - self._clock())
        return 0.0 if self.allows_calls() else self._reset_timeout

    def admit(self) -> bool:
        """Let a call through, or raise BreakerOpen. Returns True when the call is the half-open probe."""
        state = self.state
        if state == "closed":
            return False
        if state == "open":
            waited = self._clock() - self._opened_at
            if waited < self._reset_timeout:
                raise BreakerOpen(self._reset_timeout - waited)
            self._breaker.half_open()
        elif self._probe_in_flight:
            raise BreakerOpen(self._reset_timeout)
        self._probe_in_flight = True
        return True

    def record(self, probe: bool, fault: bool) -> None:
        """The outcome of an admitted call: `fault` when it failed with a backend fault."""
        if probe:
            self._probe_in_flight = False
        state = self.state
        if state == "open" or (state == "half_open" and not probe):
            return  # a late outcome of a call admitted before the breaker opened: the probe decides
        if state == "closed" and not fault and self._breaker.fail_counter == 0:
            return  # the usual case, and nothing to change: spare pybreaker's lock and listeners
        try:
            self._breaker.call(_fail if fault else _succeed)
        except (_Fault, pybreaker.CircuitBreakerError):
            pass

    def release(self, probe: bool) -> None:
        """An admitted call ended without a verdict (cancelled): a half-open breaker takes the next probe."""
        if probe:
            self._probe_in_flight = False

    def _changed(self, old: State, new: State) -> None:
        if new == "open":
            self._opened_at = self._clock()
            log.warning(
                "circuit breaker opened",
                extra={"endpoint": self.name, "reset_timeout_seconds": self._reset_timeout, "from": old},
            )
        else:
            log.info("circuit breaker %s", new.replace("_", "-"), extra={"endpoint": self.name, "from": old})
        for listener in self._listeners:
            listener(self.name, old, new)


class _Relay(pybreaker.CircuitBreakerListener):
    """Forwards pybreaker's state changes to the EndpointBreaker that owns it."""

    def __init__(self, owner: EndpointBreaker) -> None:
        self._owner = owner

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        old = _STATES[old_state.name] if old_state is not None else "closed"
        self._owner._changed(old, _STATES[new_state.name])


def ceil_seconds(seconds: float) -> int:
    """A Retry-After value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))
