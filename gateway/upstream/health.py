"""One grpc.health.v1 watcher per endpoint: its status decides whether the endpoint is in rotation.

The watcher follows `Health/Watch` for the upstream's service name, so a
server's change (NOT_SERVING when it starts draining) reaches the gateway as
soon as it is made, not at the next poll. When a stream that had answered
ends, it is opened again at once, the status kept (a connection the server
rotated or closed with GOAWAY is not the endpoint going away); when that fails,
or a stream ends without answering (the endpoint died or is restarting), the
endpoint is UNREACHABLE until the stream is reopened, after a jittered,
doubling delay. A server without `Watch`
(UNIMPLEMENTED) is polled with `Check`; one without the health service at all
is taken as SERVING (logged once): its breaker still protects it.

Only SERVING puts an endpoint in rotation; NOT_SERVING, SERVICE_UNKNOWN,
UNKNOWN and UNREACHABLE take it out.
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from typing import Literal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..settings import HealthCheckSettings

log = logging.getLogger(__name__)

Status = Literal["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", "UNREACHABLE"]
PENDING: Status = "UNKNOWN"  # before the first report
_NAMES: dict[int, Status] = {
    health_pb2.HealthCheckResponse.UNKNOWN: "UNKNOWN",
    health_pb2.HealthCheckResponse.SERVING: "SERVING",
    health_pb2.HealthCheckResponse.NOT_SERVING: "NOT_SERVING",
    health_pb2.HealthCheckResponse.SERVICE_UNKNOWN: "SERVICE_UNKNOWN",
}


class Backoff:
    """Doubling delays with jitter (between half and all of the current step), reset by a success."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self._initial = initial
        self._maximum = max(initial, maximum)
        self._step = initial
        self._rng = rng or random.Random()

    def next(self) -> float:
        delay = self._step * self._rng.uniform(0.5, 1.0)
        self._step = min(self._maximum, self._step * 2)
        return delay

    def reset(self) -> None:
        self._step = self._initial


class HealthWatcher:
    """Keeps `status` of one endpoint current; `on_change(status)` is called on every change."""

    def __init__(
        self,
        target: str,
        channel: grpc.aio.Channel,
        service_name: str,
        settings: HealthCheckSettings,
        on_change: Callable[[Status], None],
    ) -> None:
        self.target = target
        self.status: Status = PENDING
        self.reported = asyncio.Event()  # set at the first report, whatever it says
        self._stub = health_pb2_grpc.HealthStub(channel)
        self._request = health_pb2.HealthCheckRequest(service=service_name)
        self._settings = settings
        self._on_change = on_change
        self._backoff = Backoff(settings.reconnect_initial_seconds, settings.reconnect_max_seconds)
        self._task: asyncio.Task[None] | None = None
        self._answered = False  # whether the current Watch stream has answered

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"health-watch {self.target}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        first_answer_within: float | None = None
        reopened_at = -math.inf
        while True:
            self._answered = False
            why = "the stream ended without an answer"
            try:
                await self._watch(first_answer_within)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                    await self._poll()
                    return
                why = _reason(error)
                if error.code() != grpc.StatusCode.CANCELLED:
                    log.debug("health watch failed", extra={"endpoint": self.target, "error": why})
            except TimeoutError:
                why = "no answer within the check timeout"
                log.debug("health watch reopened without an answer", extra={"endpoint": self.target})
            # A stream that had answered ended with its connection (a GOAWAY: the server rotating connections,
            # or objecting to pings), not necessarily with the endpoint: open it again at once, the status kept
            # until it answers within the check timeout. At most once per initial reconnect delay, so that a
            # server ending every stream at once cannot make this loop spin.
            now = time.monotonic()
            if self._answered and now - reopened_at >= self._settings.reconnect_initial_seconds:
                reopened_at, first_answer_within = now, self._settings.check_timeout_seconds
                continue
            first_answer_within = None
            self._set("UNREACHABLE", why)
            await asyncio.sleep(self._backoff.next())

    async def _watch(self, first_answer_within: float | None) -> None:
        call = self._stub.Watch(self._request)
        try:
            responses = aiter(call)
            try:
                async with asyncio.timeout(first_answer_within):
                    first = await anext(responses)
            except StopAsyncIteration:
                return  # the server ended the stream without a word: it is going away
            self._report(first)
            async for response in responses:
                self._report(response)
        finally:
            call.cancel()

    def _report(self, response: health_pb2.HealthCheckResponse) -> None:
        self._answered = True
        self._backoff.reset()
        self._set(_NAMES.get(response.status, "UNKNOWN"))

    async def _poll(self) -> None:
        """For servers without Watch: Check every `check_interval_seconds`."""
        while True:
            try:
                response = await self._stub.Check(self._request, timeout=self._settings.check_timeout_seconds)
                self._set(_NAMES.get(response.status, "UNKNOWN"))
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                    log.warning(
                        "endpoint has no grpc.health.v1 service: taken as SERVING, guarded by its breaker only",
                        extra={"endpoint": self.target},
                    )
                    self._set("SERVING")
                    return
                # The health service answers NOT_FOUND for a service name it does not know.
                self._set("SERVICE_UNKNOWN" if error.code() == grpc.StatusCode.NOT_FOUND else "UNREACHABLE",
                          _reason(error))
            await asyncio.sleep(self._settings.check_interval_seconds)

    def _set(self, status: Status, why: str | None = None) -> None:
        """`why`: what the check met, for the log line (a TLS handshake refused, a connection refused, ...)."""
        self.reported.set()
        if status == self.status:
            return
        old, self.status = self.status, status
        level = logging.INFO if status == "SERVING" or old == PENDING else logging.WARNING
        extra = {"endpoint": self.target, "from": old, **({"error": why} if why else {})}
        log.log(level, "endpoint health %s", status, extra=extra)
        self._on_change(status)


def _reason(error: grpc.aio.AioRpcError) -> str:
    """The gRPC code and details of a failed health call: grpc's details name the cause of a failed connection."""
    return f"{error.code().name}: {error.details()}" if error.details() else error.code().name
