"""Observability across real processes: metrics of several gateway processes summed by one scrape."""
from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.support.system import ProcessSystem
from tests.support.telemetry import series_value
from tests.support.waiting import wait_until


def sample(text: str, name: str, **labels: str) -> float:
    value = series_value(text, name, **labels)
    assert value is not None, f"no {name} {labels}"
    return value


async def test_a_scrape_of_one_gateway_process_counts_them_all(processes: ProcessSystem, tmp_path: Path) -> None:
    # What several workers of one gateway do: each process writes its values into the shared folder.
    shared = tmp_path / "prometheus"
    shared.mkdir()
    service = await processes.postcard_service("postcard")
    first = await processes.gateway("gateway-1", [service], PROMETHEUS_MULTIPROC_DIR=str(shared))
    second = await processes.gateway("gateway-2", [service], PROMETHEUS_MULTIPROC_DIR=str(shared))
    headers = processes.token("alice")
    for gateway, times in ((first, 3), (second, 4)):
        for _ in range(times):
            assert (await gateway.get("/api/v1/postcards/me", headers=headers)).status_code == 200

    for gateway in (first, second):
        text = (await gateway.get("/actuator/prometheus")).text
        route = {"route": "/api/v1/postcards/me", "method": "GET", "status": "200"}
        assert sample(text, "gateway_http_requests_total", **route) == 7
        assert sample(text, "gateway_upstream_calls_total", method="ListMyPostcards", code="OK") == 7
        # Per-process state reports the worst value among the live processes.
        assert sample(text, "gateway_circuit_breaker_state", endpoint=f"127.0.0.1:{service.port}") == 0


async def test_gateway_workers_share_the_port_the_metrics_and_the_drain(processes: ProcessSystem) -> None:
    service = await processes.postcard_service("postcard")
    client = await processes.gateway("gateway", [service], args=["--workers", "2"],
                                     GATEWAY_HTTP__DRAIN_SECONDS="60")
    supervisor = client.child  # type: ignore[attr-defined]
    headers = processes.token("alice")
    async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30,
                                 limits=httpx.Limits(max_keepalive_connections=0)) as fresh:  # a connection each
        for _ in range(60):
            assert (await fresh.get("/api/v1/postcards/me", headers=headers)).status_code == 200
        text = (await fresh.get("/actuator/prometheus")).text
    served_by = {line["pid"] for line in supervisor.logged("access") if line.get("route") == "/api/v1/postcards/me"}
    assert len(served_by) == 2 and supervisor.pid not in served_by  # both workers answered, the supervisor none
    assert sample(text, "gateway_http_requests_total", route="/api/v1/postcards/me", status="200") == 60

    supervisor.send(signal.SIGTERM)  # every worker drains: still serving ...
    await wait_until(lambda: len(supervisor.logged("gateway draining")) == 2, what="both workers draining")
    assert (await client.get("/api/v1/postcards/me", headers=headers)).status_code == 200
    supervisor.send(signal.SIGTERM)  # ... until a second signal ends the drain
    assert await supervisor.wait_exit() == 0
