"""CPU time and memory of a process, from /proc (Linux).

`/proc/<pid>/stat` fields 14 and 15 (utime, stime) count the clock ticks the
whole thread group has run, threads included (also those that have exited):
the grpc.aio poller and event-engine threads are part of what a request costs.
CPU time, unlike requests per second, hardly depends on what else the machine
is running, which is why it is the figure to compare on a shared machine.
"""
from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and all its threads so far, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of the whole line
    return (utime + stime) / TICKS_PER_SECOND


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its live descendants (a server with worker processes)."""
    return sum(cpu_seconds(p) for p in process_tree(pid))


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants, from /proc/<pid>/task/<tid>/children."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(child) for child in task.read_text().split())
            except OSError:  # the thread ended meanwhile
                continue
    return found


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent not idle, summed over its cores, in seconds (`/proc/stat`).

    Over a run, this against the run's wall time tells how much of the machine was busy (up to 100% per
    core): whether a row was limited by its server or by the machine itself (wrk, the stub, the server).
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields  # guest time is already in user
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"no VmRSS for process {pid}")


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
