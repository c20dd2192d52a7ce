"""A service's pool of endpoints, and one call through it: pick -> breaker -> call with deadline -> retry.

A server-streaming call (`open_stream`) goes the same way up to its first message (`stream.py`).

    endpoint = pick(eligible endpoints not yet tried)     # picker.py: SERVING, breaker not open, P2C
    probe = endpoint.breaker.admit()                      # breaker.py
    response = await call(timeout=per-try or remaining deadline, metadata)
    breaker.record(...)                                   # only backend faults count (breaker.is_backend_fault)
    on UNAVAILABLE (or a per-try cut) of a call safe to repeat: back off, retry on another endpoint, within budget

No eligible endpoint is a 503 at once (with Retry-After), never a connect
timeout waited out. gRPC failures leave as GatewayErrors through errors.py.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from ..errors import GatewayError
from ..settings import UpstreamSettings
from .breaker import ceil_seconds, is_backend_fault
from .call import (
    NO_OBSERVER,
    NO_TRACER,
    CallContext,
    CallObserver,
    CallTracer,
    Reply,
    backend_error,
    service_unavailable,
)
from .deadline import Deadline
from .discovery import Resolver, resolve_all, split_host_port
from .endpoint import Endpoint
from .picker import pick
from .retry import RETRYABLE, RetryBudget, backoff_delay
from .rpc import Rpc
from .stream import UpstreamStream

log = logging.getLogger(__name__)
T = TypeVar("T")


class _TryFailed(Exception):
    def __init__(self, error: GatewayError, retryable: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable


class ServicePool:
    def __init__(
        self,
        service: str,
        settings: UpstreamSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        resolver: Resolver = resolve_all,
        observer: CallObserver = NO_OBSERVER,
        tracer: CallTracer = NO_TRACER,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.endpoints: list[Endpoint] = []
        self._clock = clock
        self._rng = rng or random.Random()
        self._resolver = resolver
        self._observer = observer
        self._tracer = tracer
        self._credentials = credentials
        self._budget = RetryBudget(settings.retry, clock)
        self._refresh: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    # -- life cycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open a channel and a health watcher per endpoint; with `dns`, resolve now and keep re-resolving."""
        if self.settings.dns is None:
            self._update(self.settings.endpoints)
            return
        host, port = split_host_port(self.settings.dns)
        try:
            self._update(await self._resolver(host, port))
        except OSError as exc:
            log.warning("cannot resolve upstream",
                        extra={"upstream_service": self.service, "dns": self.settings.dns, "error": str(exc)})
        self._refresh = asyncio.create_task(self._keep_resolving(host, port), name=f"dns {self.settings.dns}")

    async def wait_reported(self) -> None:
        """Until every endpoint has had its first health report (bound it with a timeout)."""
        await asyncio.gather(*(endpoint.health.reported.wait() for endpoint in self.endpoints))

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        endpoints, self.endpoints = self.endpoints, []
        await asyncio.gather(*(endpoint.close() for endpoint in endpoints), *self._retiring)

    async def _keep_resolving(self, host: str, port: int) -> None:
        while True:
            await asyncio.sleep(self.settings.dns_refresh_seconds)
            try:
                self._update(await self._resolver(host, port))
            except OSError as exc:
                log.warning("cannot re-resolve upstream; keeping its endpoints",
                            extra={"upstream_service": self.service, "dns": self.settings.dns, "error": str(exc)})

    def _update(self, targets: list[str]) -> None:
        """Add endpoints for new targets; retire (no new calls, in-flight ones finish) those gone."""
        current = {endpoint.target: endpoint for endpoint in self.endpoints}
        wanted = list(dict.fromkeys(targets))
        for gone in set(current) - set(wanted):
            task = asyncio.create_task(self._retire(current.pop(gone)))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        for target in wanted:
            if target not in current:
                current[target] = self._open(target)
        if set(current) != {endpoint.target for endpoint in self.endpoints}:
            log.info("upstream endpoints", extra={"upstream_service": self.service, "endpoints": sorted(current)})
        self.endpoints = [current[target] for target in wanted]
        # On every answer, not only on a change: it also sweeps what a gone endpoint's last calls reported late.
        self._observer.endpoints_now(self.service, wanted)

    async def _retire(self, endpoint: Endpoint) -> None:
        await endpoint.close(grace=self.settings.timeout_seconds)
        # Its calls have ended and counted themselves again: sweep once more.
        self._observer.endpoints_now(self.service, [live.target for live in self.endpoints])

    def _open(self, target: str) -> Endpoint:
        endpoint = Endpoint(target, self.service, self.settings, clock=self._clock, observer=self._observer,
                            credentials=self._credentials)
        endpoint.start()
        return endpoint

    # -- calls --------------------------------------------------------------------------------------------

    async def call(self, rpc: Rpc, request: Message, context: CallContext) -> Reply:
        """Call `rpc` on an eligible endpoint, retrying where safe; GatewayError on failure."""
        if rpc.server_streaming:
            raise TypeError(f"{rpc.full_name} is server-streaming: open it with open_stream")
        timeout = rpc.policy.timeout_seconds or self.settings.timeout_seconds
        deadline = Deadline.for_call(self._clock(), timeout, context.client_deadline)
        return await self._with_retries(
            rpc, context, deadline, lambda endpoint: self._try(endpoint, rpc, request, context, deadline)
        )

    async def open_stream(
        self, rpc: Rpc, request: Message, context: CallContext, max_seconds: float
    ) -> UpstreamStream:
        """Open the server-streaming `rpc` and wait for its first message; GatewayError before it.

        The same picking, breaker, metadata and retries (only before the first
        message) as `call`. The deadline is the stream's maximum duration: the
        contract's `timeout`, else `max_seconds`, shortened by the client's.
        """
        if not rpc.server_streaming:
            raise TypeError(f"{rpc.full_name} is unary: call it with call")
        timeout = rpc.policy.timeout_seconds or max_seconds
        deadline = Deadline.for_call(self._clock(), timeout, context.client_deadline)
        return await self._with_retries(
            rpc, context, deadline, lambda endpoint: self._try_stream(endpoint, rpc, request, context, deadline)
        )

    async def _with_retries(
        self, rpc: Rpc, context: CallContext, deadline: Deadline, attempt: Callable[[Endpoint], Awaitable[T]]
    ) -> T:
        """`attempt` on a picked endpoint; after a retryable failure of a call safe to repeat, on another one."""
        repeatable = rpc.policy.idempotent or context.idempotency_key
        retry = self.settings.retry
        self._budget.record_call()
        tried: list[Endpoint] = []
        endpoint = pick(self.endpoints, tried, self._rng)
        if endpoint is None:
            raise self._no_endpoint()
        while True:
            tried.append(endpoint)
            try:
                return await attempt(endpoint)
            except _TryFailed as failure:
                if not (repeatable and failure.retryable and len(tried) < retry.max_attempts):
                    raise failure.error from None
                if pick(self.endpoints, tried, self._rng) is None or not self._budget.try_spend():
                    raise failure.error from None
                delay = backoff_delay(retry, len(tried), self._rng)
                if delay >= deadline.remaining(self._clock()):
                    raise failure.error from None
                self._observer.retried(rpc)
                await asyncio.sleep(delay)
                # Health and breakers may have changed while backing off: pick again.
                next_endpoint = pick(self.endpoints, tried, self._rng)
                if next_endpoint is None:
                    raise failure.error from None
                endpoint = next_endpoint

    async def _try(
        self, endpoint: Endpoint, rpc: Rpc, request: Message, context: CallContext, deadline: Deadline
    ) -> Reply:
        remaining = self._remaining(deadline)
        per_try = self.settings.retry.per_try_timeout_seconds
        cut_short = per_try is not None and per_try < remaining
        probe = endpoint.breaker.admit()  # the picker saw it admit calls, and nothing awaited since
        endpoint.in_flight += 1
        started = time.perf_counter()
        span, metadata = self._tracer.start(rpc, context.metadata)
        try:
            call = endpoint.multicallable(rpc)(request, metadata=metadata, timeout=per_try if cut_short else remaining)
            response = await call
            initial = await call.initial_metadata()
            trailing = await call.trailing_metadata()
        except grpc.aio.AioRpcError as error:
            self._tracer.end(span, error.code(), error.details())
            raise self._failed(endpoint, rpc, probe, error, deadline, started, cut_short=cut_short) from None
        except BaseException:
            self._tracer.end(span, grpc.StatusCode.CANCELLED)
            endpoint.breaker.release(probe)
            raise
        finally:
            endpoint.in_flight -= 1
        self._tracer.end(span, grpc.StatusCode.OK)
        endpoint.breaker.record(probe, fault=False)
        self._observer.tried(rpc, endpoint.target, "OK", time.perf_counter() - started)
        return Reply(response, [*(initial or ()), *(trailing or ())], endpoint.target)

    async def _try_stream(
        self, endpoint: Endpoint, rpc: Rpc, request: Message, context: CallContext, deadline: Deadline
    ) -> UpstreamStream:
        # No per-try timeout: it would cut the stream itself, not only the wait for its first message.
        remaining = self._remaining(deadline)
        probe = endpoint.breaker.admit()
        endpoint.in_flight += 1  # while opening only: an open stream is not load on the endpoint
        started = time.perf_counter()
        span, metadata = self._tracer.start(rpc, context.metadata)  # ends with the stream
        call: grpc.aio.UnaryStreamCall[Message, Message] | None = None
        try:
            call = endpoint.stream_multicallable(rpc)(request, metadata=metadata, timeout=remaining)
            messages = aiter(call)
            first = await anext(messages, None)
        except grpc.aio.AioRpcError as error:
            self._tracer.end(span, error.code(), error.details())
            raise self._failed(endpoint, rpc, probe, error, deadline, started, cut_short=False) from None
        except BaseException:
            if call is not None:
                call.cancel()
            self._tracer.end(span, grpc.StatusCode.CANCELLED)
            endpoint.breaker.release(probe)
            raise
        finally:
            endpoint.in_flight -= 1
        endpoint.breaker.record(probe, fault=False)  # it answered: the verdict, see stream.py
        return UpstreamStream(rpc, call, messages, first, endpoint, observer=self._observer,
                              retry_after_seconds=self.settings.retry_after_seconds, tracer=self._tracer, span=span)

    def _remaining(self, deadline: Deadline) -> float:
        remaining = deadline.remaining(self._clock())
        if remaining <= 0:
            raise _TryFailed(GatewayError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"), retryable=False)
        return remaining

    def _failed(
        self, endpoint: Endpoint, rpc: Rpc, probe: bool, error: grpc.aio.AioRpcError, deadline: Deadline,
        started: float, *, cut_short: bool,
    ) -> _TryFailed:
        """A failed try: its metrics, the breaker's verdict, and whether another endpoint may be tried."""
        code = error.code()
        self._observer.tried(rpc, endpoint.target, code.name, time.perf_counter() - started)
        if code == grpc.StatusCode.CANCELLED:
            # Not our caller's doing (that would cancel this task): the server cancelled the call, as a
            # stopping server does with calls it did not finish. No verdict on the endpoint; try another.
            endpoint.breaker.release(probe)
            return _TryFailed(
                service_unavailable(self.service, "the service cancelled the call", self.settings.retry_after_seconds),
                retryable=True,
            )
        # A deadline the client chose (grpc-timeout) running out is not the backend's fault.
        client_cut = code == grpc.StatusCode.DEADLINE_EXCEEDED and deadline.set_by_client and not cut_short
        failure = backend_error(error, self.settings.retry_after_seconds)
        endpoint.breaker.record(probe, fault=is_backend_fault(failure) and not client_cut)
        retryable = code in RETRYABLE or (code == grpc.StatusCode.DEADLINE_EXCEEDED and cut_short)
        return _TryFailed(failure, retryable)

    def _no_endpoint(self) -> GatewayError:
        """503 at once; Retry-After is when the first open breaker of a SERVING endpoint lets a probe through."""
        serving = [endpoint for endpoint in self.endpoints if endpoint.status == "SERVING"]
        if serving:
            wait = ceil_seconds(min(endpoint.breaker.retry_after() for endpoint in serving))
            message = "service unavailable: circuit breaker open"
        else:
            wait = self.settings.retry_after_seconds
            message = "service unavailable: no healthy endpoint"
        return GatewayError(grpc.StatusCode.UNAVAILABLE, message, headers={"Retry-After": str(wait)})
