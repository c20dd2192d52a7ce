"""The health watcher against servers that implement less than Health/Watch."""
from __future__ import annotations

from typing import Any

from gateway.settings import HealthCheckSettings, UpstreamSettings
from gateway.upstream.endpoint import channel_options
from gateway.upstream.health import Backoff
from services.common.server import COMMON_SERVER_OPTIONS
from tests.support.flaky_server import FlakyBackend
from tests.support.waiting import wait_until

from .test_pool import endpoint, read_many, upstream_of


async def test_without_watch_the_watcher_polls_check(flaky_catalog: Any) -> None:
    backend = FlakyBackend("old", health="check-only")
    await backend.start()
    health = HealthCheckSettings(check_interval_seconds=0.05, reconnect_initial_seconds=0.05)
    try:
        async with upstream_of([backend.target], health=health) as upstream:
            assert endpoint(upstream, backend).status == "SERVING"
            await backend.set_serving(False)
            await wait_until(lambda: endpoint(upstream, backend).status == "NOT_SERVING")
            await backend.set_serving(True)
            await wait_until(lambda: endpoint(upstream, backend).status == "SERVING")
    finally:
        await backend.stop(0)


async def test_a_service_name_the_server_does_not_know_is_out_of_rotation(flaky_catalog: Any) -> None:
    backend = FlakyBackend("other")
    await backend.start()
    try:
        async with upstream_of([backend.target], health=HealthCheckSettings(service_name="some.Other")) as upstream:
            assert endpoint(upstream, backend).status == "SERVICE_UNKNOWN"
    finally:
        await backend.stop(0)


async def test_a_server_without_health_service_is_taken_as_serving(flaky_catalog: Any, caplog: Any) -> None:
    backend = FlakyBackend("bare", health="none")
    await backend.start()
    try:
        async with upstream_of([backend.target]) as upstream:
            await wait_until(lambda: endpoint(upstream, backend).status == "SERVING")
            assert await read_many(upstream, flaky_catalog, 2) == ["bare", "bare"]
        assert "no grpc.health.v1 service" in caplog.text
    finally:
        await backend.stop(0)


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.next() for _ in range(6)]
    assert 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2 and 0.5 <= delays[5] <= 1.0
    backoff.reset()
    assert backoff.next() <= 0.1


def test_the_services_allow_the_gateways_keepalive_pings() -> None:
    # A server that allows pings less often than the gateway sends them on its open Watch streams answers
    # GOAWAY "too_many_pings" at the third, and the gateway loses its connection every idle ~90 s.
    client = dict(channel_options(UpstreamSettings(endpoints=["127.0.0.1:1"])))
    server = dict(COMMON_SERVER_OPTIONS)
    assert int(server["grpc.http2.min_ping_interval_without_data_ms"]) <= int(client["grpc.keepalive_time_ms"])


async def test_a_connection_the_server_rotates_keeps_the_endpoint_in_rotation(flaky_catalog: Any, caplog: Any) -> None:
    # A server closing connections after a maximum age (GOAWAY, as deployments do to rebalance) ends the open
    # Watch stream each time. The watcher opens it again at once; the endpoint never leaves rotation for it.
    rotating = [("grpc.max_connection_age_ms", 300), ("grpc.max_connection_age_grace_ms", 100)]
    backend = FlakyBackend("rotating", server_options=rotating)
    await backend.start()
    try:
        async with upstream_of([backend.target]) as upstream:
            await wait_until(lambda: backend.health.watches >= 4, timeout=30)  # three rotations seen
            assert endpoint(upstream, backend).status == "SERVING"
            assert await read_many(upstream, flaky_catalog, 2) == ["rotating", "rotating"]
        assert "endpoint health UNREACHABLE" not in caplog.text
    finally:
        await backend.stop(0)


async def test_the_unreachable_line_says_what_the_check_met(flaky_catalog: Any, caplog: Any) -> None:
    # What an operator looks for first: the line itself names the cause (here a refused connection).
    caplog.set_level("INFO", logger="gateway.upstream.health")
    gone = FlakyBackend("gone")
    await gone.start()
    await gone.stop(0)
    async with upstream_of([gone.target]) as upstream:
        await wait_until(lambda: endpoint(upstream, gone).status == "UNREACHABLE")
    (line,) = [r for r in caplog.records if r.getMessage() == "endpoint health UNREACHABLE"]
    assert line.endpoint == gone.target
    assert line.error.startswith("UNAVAILABLE: ") and gone.target in line.error
