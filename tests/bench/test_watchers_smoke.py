"""bench/watchers.py works end to end: a small run (20 watchers, a 1 s idle window).

Checks that every watcher got its first and terminal events, that the figures are
there, and that no process is left behind. No assertion on any time, CPU or memory
figure: those are for people reading a full run (docs/benchmarks.md).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.cpu import alive

REPO = Path(__file__).resolve().parents[2]


def test_a_small_run_gives_every_watcher_its_terminal_event_and_stops_its_processes(tmp_path: Path) -> None:
    out = tmp_path / "watchers.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.watchers", "--watchers", "20", "--idle-seconds", "1", "--no-bounds",
         "--json", str(out), "--work-dir", str(tmp_path / "work")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    data = json.loads(out.read_text())
    assert (data["first_events_processing"], data["terminal_events"]) == (20, 20)
    assert (data["gateway_streams_open"], data["service_watches"], data["service_watches_after"]) == (20, 20, 0)
    for name in ("gateway_kib_per_stream", "service_kib_per_watch", "gateway_idle_cpu_percent", "mean_check_ms"):
        assert name in data
    assert "| watchers (one user and one task each) | 20 |" in result.stdout
    assert len(data["pids"]) == 3  # service, gateway, worker
    assert [pid for pid in data["pids"] if alive(pid)] == []
