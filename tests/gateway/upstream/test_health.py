"""The health watcher against servers that implement less than Health/Watch."""
from __future__ import annotations

from typing import Any

from gateway.settings import HealthCheckSettings
from gateway.upstream.health import Backoff
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
