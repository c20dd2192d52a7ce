"""Metric series labelled by endpoint follow the endpoints DNS answers, against real gRPC servers.

With pod addresses changing on every deploy, a series kept for every address
ever called would grow for as long as the gateway runs. A gone endpoint's
series go once its last calls have ended; one back at the same address
counts afresh. In multiprocess mode (several workers) prometheus-client cannot
delete a series: the gauges are zeroed instead (a subprocess, since the mode
is chosen when prometheus_client is imported).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson

from gateway.observability.metrics import GatewayMetrics
from gateway.settings import FallbackSettings, UpstreamSettings
from gateway.upstream.client import Upstream
from gateway.upstream.rpc import RpcCatalog
from tests.support.flaky_server import FLAKY_SERVICE, FlakyBackend
from tests.support.telemetry import counted, samples_in, series_value
from tests.support.waiting import wait_until

from .test_pool import FAST_HEALTH, read_many

ENDPOINT_SERIES = {"gateway_upstream_calls_total", "gateway_circuit_breaker_state", "gateway_upstream_endpoint_health"}


def exposition(metrics: GatewayMetrics) -> str:
    return metrics.exposition()[0].decode()


def series_of(metrics: GatewayMetrics, target: str, service: str = FLAKY_SERVICE) -> set[str]:
    """The names of the samples labelled with this service and endpoint."""
    return {name for name, labels in samples_in(exposition(metrics))
            if dict(labels).get("endpoint") == target and dict(labels).get("service") == service}


async def only_to(upstream: Upstream, serving: FlakyBackend, idle: FlakyBackend) -> None:
    """Take `idle` out of rotation, so that calls go to `serving`."""
    await idle.set_serving(False)
    pool = upstream.pools[FLAKY_SERVICE]
    await wait_until(lambda: {e.target: e.status for e in pool.endpoints}.get(idle.target) in (None, "NOT_SERVING"),
                     what=f"{idle.name} out of rotation")
    await wait_until(lambda: any(e.target == serving.target and e.status == "SERVING" for e in pool.endpoints),
                     what=f"{serving.name} serving")


async def test_a_gone_endpoints_series_go_after_its_last_call_and_come_back_counting_afresh(
    flaky_catalog: RpcCatalog, backends: list[FlakyBackend]
) -> None:
    a, b = backends
    answers = [[a.target, b.target]]

    async def resolver(host: str, port: int) -> list[str]:
        return answers[-1]

    metrics = GatewayMetrics()
    upstream = Upstream({FLAKY_SERVICE: UpstreamSettings(dns="flaky.test:50052", dns_refresh_seconds=0.05,
                                                         health=FAST_HEALTH)},
                        FallbackSettings(), observer=metrics)
    pool = upstream.pools[FLAKY_SERVICE]
    pool._resolver = resolver
    await upstream.start(first_report_timeout=10)
    try:
        await only_to(upstream, a, b)
        assert await read_many(upstream, flaky_catalog, 1) == ["a"]
        assert ENDPOINT_SERIES <= series_of(metrics, a.target)

        # a call to a is in flight when a's address leaves DNS; it ends, and counts, after that
        a.hold = asyncio.Event()
        in_flight = asyncio.create_task(read_many(upstream, flaky_catalog, 1))
        await wait_until(lambda: a.calls["Read"] == 2, what="the held call at a")
        await b.set_serving(True)
        answers.append([b.target])
        await wait_until(lambda: [e.target for e in pool.endpoints] == [b.target], what="a out of the pool")
        a.hold.set()
        assert await in_flight == ["a"]  # retired endpoints finish their calls
        await wait_until(lambda: not pool._retiring, what="a's channel closed")
        await wait_until(lambda: not series_of(metrics, a.target), what="a's series gone")
        assert {"gateway_circuit_breaker_state", "gateway_upstream_endpoint_health"} <= series_of(metrics, b.target)

        # the address comes back (a new pod given the old IP): its series start again from nothing
        answers.append([a.target, b.target])
        await wait_until(lambda: len(pool.endpoints) == 2, what="a back in the pool")
        await only_to(upstream, a, b)
        assert await read_many(upstream, flaky_catalog, 3) == ["a"] * 3
        text = exposition(metrics)
        assert counted(text, "gateway_upstream_calls_total", endpoint=a.target, code="OK") == 3
        assert series_value(text, "gateway_upstream_endpoint_health", endpoint=a.target, status="SERVING") == 1
        assert series_value(text, "gateway_circuit_breaker_state", endpoint=a.target) == 0
    finally:
        await upstream.close()


def test_only_the_named_services_gone_endpoints_lose_their_series() -> None:
    metrics = GatewayMetrics()
    rpc = _Rpc(FLAKY_SERVICE, "Read")
    other = _Rpc("postcardapp.user.v1.UserService", "Login")
    for service, call in ((FLAKY_SERVICE, rpc), (other.service, other)):
        for target in ("10.0.0.1:50051", "10.0.0.2:50051"):
            metrics.health_changed(service, target, "SERVING")
            metrics.breaker_changed(service, target, "open")
            metrics.tried(call, target, "UNAVAILABLE", 0.01)
    metrics.answered("/test/v1/flaky/{key}", "GET", 200, 0.01)

    metrics.endpoints_now(FLAKY_SERVICE, ["10.0.0.2:50051"])

    text = exposition(metrics)
    assert not series_of(metrics, "10.0.0.1:50051")
    assert ENDPOINT_SERIES <= series_of(metrics, "10.0.0.1:50051", other.service)
    assert series_value(text, "gateway_circuit_breaker_state", service=FLAKY_SERVICE, endpoint="10.0.0.2:50051") == 2
    for target in ("10.0.0.1:50051", "10.0.0.2:50051"):  # the other service's endpoints are its own business
        assert series_value(text, "gateway_circuit_breaker_state", service=other.service, endpoint=target) == 2
        assert counted(text, "gateway_upstream_calls_total", service=other.service, endpoint=target) == 1
    assert counted(text, "gateway_http_requests_total", route="/test/v1/flaky/{key}") == 1
    assert counted(text, "gateway_upstream_call_duration_seconds_count", service=FLAKY_SERVICE) == 2


def test_in_multiprocess_mode_a_gone_endpoints_gauges_read_zero(tmp_path: Path) -> None:
    # prometheus_client picks its multiprocess values when imported: a process of its own, warnings as errors
    # (its `remove` only warns in this mode and leaves the value in the files).
    script = textwrap.dedent("""
        import sys, types
        import orjson
        from gateway.observability.metrics import GatewayMetrics
        from tests.support.telemetry import samples_in

        metrics = GatewayMetrics()
        rpc = types.SimpleNamespace(service="svc", name="Read")
        for target in ("10.0.0.1:1", "10.0.0.2:1"):
            metrics.health_changed("svc", target, "SERVING")
            metrics.breaker_changed("svc", target, "open")
            metrics.tried(rpc, target, "OK", 0.01)
        metrics.endpoints_now("svc", ["10.0.0.2:1"])
        metrics.endpoints_now("svc", ["10.0.0.2:1"])  # a second sweep finds nothing more to do
        gone = samples_in(metrics.exposition()[0].decode())
        metrics.health_changed("svc", "10.0.0.1:1", "SERVING")  # back at the same address
        metrics.tried(rpc, "10.0.0.1:1", "OK", 0.01)
        back = samples_in(metrics.exposition()[0].decode())
        dump = lambda samples: [[name, dict(labels), value] for (name, labels), value in samples.items()]
        sys.stdout.buffer.write(orjson.dumps({"gone": dump(gone), "back": dump(back)}))
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", script], env=env,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    result = orjson.loads(done.stdout)

    def value(phase: str, name: str, **labels: str) -> float:
        (found,) = [v for n, sample_labels, v in result[phase] if n == name and labels.items() <= sample_labels.items()]
        return float(found)

    for status in ("SERVING", "NOT_SERVING", "UNKNOWN"):
        assert value("gone", "gateway_upstream_endpoint_health", endpoint="10.0.0.1:1", status=status) == 0
    assert value("gone", "gateway_circuit_breaker_state", endpoint="10.0.0.1:1") == 0
    assert value("gone", "gateway_upstream_endpoint_health", endpoint="10.0.0.2:1", status="SERVING") == 1
    assert value("gone", "gateway_circuit_breaker_state", endpoint="10.0.0.2:1") == 2
    assert value("gone", "gateway_upstream_calls_total", endpoint="10.0.0.1:1") == 1  # a counter cannot go here
    assert value("back", "gateway_upstream_endpoint_health", endpoint="10.0.0.1:1", status="SERVING") == 1
    assert value("back", "gateway_upstream_calls_total", endpoint="10.0.0.1:1") == 2  # and it counts on


class _Rpc:
    """What the metrics read of an Rpc."""

    def __init__(self, service: str, name: str) -> None:
        self.service, self.name = service, name
