"""The parts of `scripts/bench`: the servers it measures, the load it sends, what it counts and reports.

Each server runs in its own process on 127.0.0.1 (port 0), started and stopped
by PID (`processes.py`); `wrk` loads them (`load.py`); the serving process's
CPU time comes from /proc (`cpu.py`); `runner.py` runs the plan and
`report.py` prints and writes the figures. See docs/benchmarks.md.
"""
