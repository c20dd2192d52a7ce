"""scripts/bench works end to end: a --quick run, about a second of load per row.

Checks that the script runs, that every row has requests and CPU figures, and
that it leaves none of its processes behind. No assertion on any time, rate or
ratio: those are for people reading a full run (docs/benchmarks.md).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cpu import alive

REPO = Path(__file__).resolve().parents[2]
ROWS = ["bare", "raw", "naive", "gateway", "gateway_mtls", "raw_light", "gateway_light", "direct_light",
        "gateway_create"]


def test_quick_run_measures_every_row_and_stops_its_processes(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("the benchmark needs wrk (apt-get install wrk; .ci/run installs it)")
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench", "--quick", "--warmup", "0", "--json", str(out),
         "--work-dir", str(tmp_path / "work")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    data = json.loads(out.read_text())

    for name in ROWS:
        median = data["rows"][name]["median"]
        assert median["requests"] > 0, name
        assert median["cpu_us_per_request"] > 0, name
        assert median["errors"] == 0, name
    for name in ["bare", "raw", "naive", "gateway", "gateway_mtls"]:
        assert data["probes"][name] == {"status": 200, "body_bytes": data["probes"]["gateway"]["body_bytes"]}
    assert data["probes"]["gateway_create"]["status"] == 202
    memory = data["memory"]
    assert memory["requests"] > 0 and memory["rss_before_bytes"] > 0 and memory["rss_after_bytes"] > 0
    assert sum(memory["errors"].values()) == 0
    for name in (n for n in ROWS if n != "direct_light"):  # each wrk row: how busy the whole machine was, too
        assert 0 < data["rows"][name]["median"]["machine_cpu_percent"], name
    assert data["workers"]["supported"]
    for name in ["gateway_workers_1", "gateway_workers_2", "gateway_workers_1_liveness", "gateway_workers_2_liveness"]:
        median = data["workers"]["rows"][name]["median"]
        assert median["requests"] > 0 and median["errors"] == 0, name
        assert median["machine_cpu_percent"] > 0, name
    assert "requests/s, --workers 2 ÷ --workers 1, liveness probe" in result.stdout
    assert set(data["ratios"]) >= {"gateway ÷ raw ASGI floor", "gateway ÷ naive FastAPI",
                                   "light-load p50, raw ASGI floor − direct grpc.aio (ms)"}
    assert "gateway ÷ raw ASGI floor" in result.stdout
    assert {"verify_cached_us", "verify_uncached_us", "internal_token_sign_and_verify_us"} <= set(data["identity"])

    assert len(data["pids"]) >= 6  # stub, four servers, wrk runs, the direct client
    assert [pid for pid in data["pids"] if alive(pid)] == []
