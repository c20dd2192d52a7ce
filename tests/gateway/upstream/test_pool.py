"""The upstream layer against real gRPC servers: health-fed picking, breakers, retries, fallbacks.

Each FlakyBackend is a real grpc.aio server on 127.0.0.1 with the standard
health service; the tests change its health or make it fail, and count the
calls each instance received.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from gateway.errors import GatewayError
from gateway.settings import BreakerSettings, FallbackSettings, HealthCheckSettings, RetrySettings, UpstreamSettings
from gateway.upstream.call import CallContext
from gateway.upstream.client import Upstream
from gateway.upstream.rpc import RpcCatalog
from tests.support.flaky_server import FLAKY_SERVICE, FlakyBackend
from tests.support.waiting import ManualClock, wait_until

READ = f"{FLAKY_SERVICE}.Read"
WRITE = f"{FLAKY_SERVICE}.Write"
MINE = f"{FLAKY_SERVICE}.Mine"
FAST_HEALTH = HealthCheckSettings(reconnect_initial_seconds=0.05, reconnect_max_seconds=0.2)


def context(user: str | None = None, *, idempotency_key: bool = False, client_deadline: float | None = None) -> Any:
    return CallContext(metadata=(), user_id=user, client_deadline=client_deadline, idempotency_key=idempotency_key)


@asynccontextmanager
async def upstream_of(
    targets: list[str], clock: Callable[[], float] | None = None, fallback: FallbackSettings | None = None,
    **settings: Any,
) -> AsyncIterator[Upstream]:
    upstream = Upstream(
        {FLAKY_SERVICE: UpstreamSettings(endpoints=targets, **{"health": FAST_HEALTH, **settings})},
        fallback or FallbackSettings(),
        **({"clock": clock} if clock else {}),
    )
    await upstream.start(first_report_timeout=10)
    try:
        yield upstream
    finally:
        await upstream.close()


def endpoint(upstream: Upstream, backend: FlakyBackend) -> Any:
    return next(e for e in upstream.pools[FLAKY_SERVICE].endpoints if e.target == backend.target)


async def read_many(upstream: Upstream, catalog: RpcCatalog, n: int) -> list[str]:
    request = catalog[READ].request_class(key="k")
    return [(await upstream.call(catalog[READ], request, context())).message.served_by for _ in range(n)]


async def test_not_serving_leaves_rotation_and_serving_returns(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, b = backends
    async with upstream_of([a.target, b.target]) as upstream:
        assert {endpoint(upstream, x).status for x in backends} == {"SERVING"}
        await b.set_serving(False)
        await wait_until(lambda: endpoint(upstream, b).status == "NOT_SERVING", what="b out of rotation")
        b.calls.clear()
        assert set(await read_many(upstream, flaky_catalog, 40)) == {"a"}
        assert b.calls.total() == 0

        await b.set_serving(True)
        await wait_until(lambda: endpoint(upstream, b).status == "SERVING", what="b back in rotation")
        assert set(await read_many(upstream, flaky_catalog, 40)) == {"a", "b"}


async def test_no_eligible_endpoint_is_503_at_once(flaky_catalog: RpcCatalog, backends: list[FlakyBackend]) -> None:
    async with upstream_of([x.target for x in backends], retry_after_seconds=7) as upstream:
        for backend in backends:
            await backend.set_serving(False)
        await wait_until(lambda: all(endpoint(upstream, x).status == "NOT_SERVING" for x in backends))
        with pytest.raises(GatewayError) as failed:
            await read_many(upstream, flaky_catalog, 1)
        assert (failed.value.http_status, failed.value.headers["Retry-After"]) == (503, "7")
        assert "no healthy endpoint" in failed.value.message
        assert sum(x.calls.total() for x in backends) == 0


async def test_idempotent_calls_are_retried_on_another_endpoint(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, b = backends
    a.fail_with = grpc.StatusCode.UNAVAILABLE  # health still says SERVING: only the call fails
    # Breaker and budget out of the way: about half of the calls land on a first and need their retry.
    async with upstream_of([a.target, b.target], breaker=BreakerSettings(failure_threshold=1000),
                           retry=RetrySettings(budget_ratio=1.0)) as upstream:
        assert set(await read_many(upstream, flaky_catalog, 30)) == {"b"}
        assert a.calls["Read"] > 0  # some tries landed on a and were retried on b


async def test_a_create_is_retried_only_with_an_idempotency_key(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, b = backends
    a.fail_with = grpc.StatusCode.UNAVAILABLE
    write = flaky_catalog[WRITE]
    async with upstream_of([a.target, b.target], breaker=BreakerSettings(failure_threshold=1000),
                           retry=RetrySettings(budget_ratio=1.0)) as upstream:
        outcomes = []
        for _ in range(30):
            try:
                outcomes.append((await upstream.call(write, write.request_class(key="k"), context())).message.served_by)
            except GatewayError as error:
                outcomes.append(error.code.name)
        assert "UNAVAILABLE" in outcomes and "b" in outcomes  # not retried: a's failures reach the caller
        assert a.calls["Write"] + b.calls["Write"] == 30  # one try each
        keyed = [await upstream.call(write, write.request_class(key="k"), context(idempotency_key=True))
                 for _ in range(20)]
        assert {reply.message.served_by for reply in keyed} == {"b"}


async def test_client_errors_are_not_retried_and_do_not_open_breakers(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, b = backends
    for backend in backends:
        backend.fail_with = grpc.StatusCode.NOT_FOUND
    async with upstream_of([a.target, b.target], breaker=BreakerSettings(failure_threshold=2)) as upstream:
        for _ in range(10):
            with pytest.raises(GatewayError) as failed:
                await read_many(upstream, flaky_catalog, 1)
            assert failed.value.http_status == 404
        assert a.calls["Read"] + b.calls["Read"] == 10
        assert {endpoint(upstream, x).breaker.state for x in backends} == {"closed"}


async def test_the_retry_budget_bounds_retries(flaky_catalog: RpcCatalog, backends: list[FlakyBackend]) -> None:
    a, b = backends
    for backend in backends:
        backend.fail_with = grpc.StatusCode.UNAVAILABLE
    retry = RetrySettings(max_attempts=2, budget_ratio=0.1, budget_min_per_second=0, backoff_base_seconds=0)
    async with upstream_of([a.target, b.target], retry=retry,
                           breaker=BreakerSettings(failure_threshold=1000)) as upstream:
        for _ in range(50):
            with pytest.raises(GatewayError):
                await read_many(upstream, flaky_catalog, 1)
        tries = a.calls["Read"] + b.calls["Read"]
        assert 50 < tries <= 55  # without a budget an outage would double the load: 100 tries


async def test_a_stalled_endpoint_opens_its_breaker_then_one_probe_closes_it(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, _ = backends
    a.hold = asyncio.Event()  # a accepts calls and never answers
    clock = ManualClock()
    async with upstream_of(
        [a.target], clock, timeout_seconds=0.2, breaker=BreakerSettings(failure_threshold=3, reset_timeout_seconds=30)
    ) as upstream:
        breaker = endpoint(upstream, a).breaker
        for _ in range(3):
            with pytest.raises(GatewayError) as timed_out:
                await read_many(upstream, flaky_catalog, 1)
            assert timed_out.value.http_status == 504
        assert breaker.state == "open"

        clock.advance(10)
        with pytest.raises(GatewayError) as refused:
            await read_many(upstream, flaky_catalog, 1)
        assert (refused.value.http_status, refused.value.headers["Retry-After"]) == (503, "20")
        assert a.calls["Read"] == 3  # failed fast: no call reached the backend

        a.hold.set()  # the backend recovers
        a.hold = asyncio.Event()  # ... but holds the probe until the test has tried a second caller
        clock.advance(20)
        probe = asyncio.create_task(read_many(upstream, flaky_catalog, 1))
        await wait_until(lambda: a.calls["Read"] == 4, what="the probe reached the backend")
        with pytest.raises(GatewayError) as second:
            await read_many(upstream, flaky_catalog, 1)
        assert second.value.http_status == 503  # exactly one probe while half-open
        a.hold.set()
        assert await probe == ["a"]
        assert breaker.state == "closed"
        assert await read_many(upstream, flaky_catalog, 3) == ["a", "a", "a"]


async def test_a_deadline_the_client_chose_does_not_count_against_the_backend(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, _ = backends
    a.hold = asyncio.Event()
    rpc = flaky_catalog[READ]
    async with upstream_of([a.target], breaker=BreakerSettings(failure_threshold=2)) as upstream:
        loop = asyncio.get_running_loop()
        for _ in range(4):
            with pytest.raises(GatewayError) as timed_out:
                await upstream.call(rpc, rpc.request_class(), context(client_deadline=loop.time() + 0.05))
            assert timed_out.value.http_status == 504
        assert endpoint(upstream, a).breaker.state == "closed"


async def test_per_try_timeout_moves_on_to_another_endpoint(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, b = backends
    a.hold = asyncio.Event()
    retry = RetrySettings(per_try_timeout_seconds=0.1, backoff_base_seconds=0)
    async with upstream_of([a.target, b.target], timeout_seconds=5, retry=retry) as upstream:
        assert set(await read_many(upstream, flaky_catalog, 10)) == {"b"}


async def test_a_restarted_endpoint_is_seen_again(flaky_catalog: RpcCatalog, backends: list[FlakyBackend]) -> None:
    a, b = backends
    async with upstream_of([a.target, b.target]) as upstream:
        port = a.port
        await a.stop(0)
        await wait_until(lambda: endpoint(upstream, a).status == "UNREACHABLE", what="a unreachable")
        assert set(await read_many(upstream, flaky_catalog, 10)) == {"b"}
        restarted = FlakyBackend("a2")
        await restarted.start(port)
        try:
            await wait_until(lambda: endpoint(upstream, a).status == "SERVING", what="a serving again")
            assert "a2" in set(await read_many(upstream, flaky_catalog, 40))
        finally:
            await restarted.stop(0)


async def test_dns_names_are_re_resolved(flaky_catalog: RpcCatalog, backends: list[FlakyBackend]) -> None:
    a, b = backends
    answers = [[a.target]]

    async def resolver(host: str, port: int) -> list[str]:
        assert (host, port) == ("flaky.test", 50052)
        return answers[-1]

    upstream = Upstream({FLAKY_SERVICE: UpstreamSettings(dns="flaky.test:50052", dns_refresh_seconds=0.05,
                                                         health=FAST_HEALTH)}, FallbackSettings())
    upstream.pools[FLAKY_SERVICE]._resolver = resolver
    await upstream.start(first_report_timeout=10)
    try:
        assert set(await read_many(upstream, flaky_catalog, 10)) == {"a"}
        answers.append([a.target, b.target])  # scaled out
        await wait_until(lambda: len(upstream.pools[FLAKY_SERVICE].endpoints) == 2)
        await wait_until(lambda: endpoint(upstream, b).status == "SERVING")
        assert set(await read_many(upstream, flaky_catalog, 40)) == {"a", "b"}
        answers.append([b.target])  # a's pod went away
        await wait_until(lambda: [e.target for e in upstream.pools[FLAKY_SERVICE].endpoints] == [b.target])
        assert set(await read_many(upstream, flaky_catalog, 10)) == {"b"}
    finally:
        await upstream.close()


async def test_upstream_lines_name_the_service_without_hiding_the_process_that_wrote_them(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend], caplog: Any
) -> None:
    # The log line's own `service` field names the process (gateway); a field in `extra` would replace it.
    caplog.set_level("INFO", logger="gateway.upstream")
    async with upstream_of([backends[0].target]):
        pass
    (line,) = [record for record in caplog.records if record.getMessage() == "upstream endpoints"]
    assert line.upstream_service == FLAKY_SERVICE
    assert not hasattr(line, "service")


async def test_a_name_that_does_not_resolve_is_logged_with_its_service(caplog: Any) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    upstream = Upstream({FLAKY_SERVICE: UpstreamSettings(dns="nowhere.test:50052", health=FAST_HEALTH)},
                        FallbackSettings())
    upstream.pools[FLAKY_SERVICE]._resolver = resolver
    await upstream.start(first_report_timeout=10)
    try:
        (line,) = [record for record in caplog.records if record.getMessage() == "cannot resolve upstream"]
        assert (line.upstream_service, line.dns, line.error) == (FLAKY_SERVICE, "nowhere.test:50052",
                                                                 "Name or service not known")
        assert not hasattr(line, "service")
        assert upstream.pools[FLAKY_SERVICE].endpoints == []
    finally:
        await upstream.close()


async def test_localhost_resolves_to_the_loopback_address() -> None:
    from gateway.upstream.discovery import resolve_all

    assert "127.0.0.1:50052" in await resolve_all("localhost", 50052)


async def test_fallback_answers_with_the_callers_own_last_answer(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, _ = backends
    mine = flaky_catalog[MINE]
    async with upstream_of([a.target]) as upstream:
        a.items = ["alice-1", "alice-2"]
        fresh = await upstream.call(mine, mine.request_class(), context("alice"))
        assert (list(fresh.message.items), fresh.fallback, fresh.fallback_cause) == (["alice-1", "alice-2"], None, None)

        a.fail_with = grpc.StatusCode.INTERNAL
        cached = await upstream.call(mine, mine.request_class(), context("alice"))
        assert (list(cached.message.items), cached.fallback) == (["alice-1", "alice-2"], "cache")
        assert cached.fallback_cause == "INTERNAL"  # the failure it stands in for, for a caller to report
        other = await upstream.call(mine, mine.request_class(), context("bob"))
        assert (list(other.message.items), other.fallback) == ([], "empty")

        a.fail_with = grpc.StatusCode.PERMISSION_DENIED  # the client's error stands
        with pytest.raises(GatewayError) as denied:
            await upstream.call(mine, mine.request_class(), context("alice"))
        assert denied.value.http_status == 403

        a.fail_with = None
        await a.set_serving(False)  # no endpoint at all: still the fallback
        await wait_until(lambda: endpoint(upstream, a).status == "NOT_SERVING")
        no_endpoint = await upstream.call(mine, mine.request_class(), context("alice"))
        assert (no_endpoint.fallback, no_endpoint.fallback_cause) == ("cache", "UNAVAILABLE")


async def test_a_call_the_server_cancelled_is_a_503_and_retried_where_safe(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, b = backends
    a.fail_with = grpc.StatusCode.CANCELLED  # what a stopping server does to calls it did not finish
    async with upstream_of([a.target], retry=RetrySettings(budget_ratio=1.0)) as upstream:
        with pytest.raises(GatewayError) as failed:
            await read_many(upstream, flaky_catalog, 1)
        assert (failed.value.http_status, failed.value.message) == (503, "service unavailable")  # not 499
        assert endpoint(upstream, a).breaker.failures == 0  # no verdict on the endpoint
    async with upstream_of([a.target, b.target], retry=RetrySettings(budget_ratio=1.0)) as upstream:
        assert set(await read_many(upstream, flaky_catalog, 20)) == {"b"}
