"""Observability across real processes: metrics of several gateway processes summed by one scrape."""
from __future__ import annotations

from pathlib import Path

from tests.support.system import ProcessSystem


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels}")


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
