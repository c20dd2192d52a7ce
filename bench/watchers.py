"""Many concurrent task-status watchers on one gateway and one postcard-service: CPU, memory, and that every
watcher gets its terminal event (issue 13). A bounded run, not a test.

    .venv/bin/python -m bench.watchers                  # 1,000 watchers, a 20 s idle window
    .venv/bin/python -m bench.watchers --watchers 50 --idle-seconds 1 --no-bounds    # a smoke run

Each in its own process on 127.0.0.1: a postcard-service without embedded
workers (its SQLite file in the work folder, metrics on a port), the gateway
(both pinned to the server core), later a worker process; this process is the
client (on the load core), with one user and one task per watcher:

1. create every task through the gateway;
2. open every watcher's stream (`GET .../status/{task_id}/events`, Server-Sent
   Events) and wait until each has its first event ("processing"); the RSS of
   the gateway and the service before and after, and the service's count of
   watches;
3. the idle window: CPU time of the gateway and the service over
   `--idle-seconds`, every stream open and nothing changing (the gateway's
   heartbeats, the service's one check of all watched tasks per interval);
4. start a worker process: every task completes; wait until every watcher has
   had its terminal event ("completed", with its postcard) and its stream has
   ended; the CPU time of the gateway and the service in this phase.

Prints a table and writes JSON. Exits 1 when a watcher missed its terminal
event, or (unless `--no-bounds`) a figure is beyond its bound (`BOUNDS`, stated
in docs/benchmarks.md). Stops every process it started, by PID.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.settings import POSTCARD_SERVICE
from tests.support.streams import sse

from . import cpu
from .processes import Children, Pinning, Server
from .report import git_commit, machine, now
from .runner import log
from .servers import START_TIMEOUT_SECONDS, gateway_env
from .tokens import Tokens

ROOT = Path(__file__).resolve().parent.parent
CREATE_BODY = {"mood": "calm", "style": "ink", "theme": "rain"}
OPEN_BATCH = 100  # streams opened at once
PHASE_TIMEOUT_SECONDS = 300  # any phase that takes longer has failed
# The bounds a run must stay within, for 1,000 watchers (docs/benchmarks.md says why these).
BOUNDS = {
    "gateway_idle_cpu_percent": 5.0,  # of one core, 1,000 idle streams
    "service_idle_cpu_percent": 5.0,  # of one core, 1,000 watches, one check per interval
    "gateway_kib_per_stream": 100.0,  # RSS growth per open stream
    "service_kib_per_watch": 50.0,  # RSS growth per watch
    "mean_check_ms": 25.0,  # one check of every watched task
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=1000, help="concurrent watchers, one user each (1000)")
    parser.add_argument("--idle-seconds", type=float, default=20, help="the idle window (20)")
    parser.add_argument("--check-interval", type=float, default=0.5, help="the service's watch interval (0.5)")
    parser.add_argument("--heartbeat", type=float, default=15, help="the gateway's SSE heartbeat, seconds (15)")
    parser.add_argument("--no-bounds", action="store_true", help="report the figures without judging them")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench" / "watchers.json", help="where to write JSON")
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".bench" / "watchers",
                        help="servers' logs, database, keys (emptied first)")
    args = parser.parse_args()
    if args.watchers < 1 or args.idle_seconds <= 0:
        parser.error("--watchers must be at least 1 and --idle-seconds positive")
    return args


def service_env(work_dir: Path, interval: float, jwks: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("POSTCARD_SERVICE_")}
    return {
        **inherited,
        "POSTCARD_SERVICE_DB_PATH": str(work_dir / "postcards.sqlite3"),
        "POSTCARD_SERVICE_METRICS_PORT": "0",
        "POSTCARD_SERVICE_WATCH__INTERVAL_SECONDS": str(interval),
        "POSTCARD_SERVICE_GENERATOR__DELAY_SECONDS": "0",
        "POSTCARD_SERVICE_WORKER__POLL_INTERVAL_SECONDS": "0.05",
        "POSTCARD_SERVICE_DRAIN_SECONDS": "0",
        "POSTCARD_SERVICE_AUTH__JWKS_PATH": str(jwks),  # each watch's token verified, as in production
        "POSTCARD_SERVICE_TLS__INSECURE_PLAINTEXT": "true",  # the gateway's hop in gateway_env
        "POSTCARD_SERVICE_ADMISSION__MAX_QUEUE_DEPTH": "1000000",  # every watcher's task is let in at once
    }


def streaming_gateway_env(service: str, jwks: Path, watchers: int, heartbeat: float) -> dict[str, str]:
    """`gateway_env` with room for every watcher: streams, connections and in-flight requests."""
    room = str(2 * watchers + 100)
    return {
        **gateway_env(service, jwks),
        "GATEWAY_UPSTREAMS": json.dumps({POSTCARD_SERVICE: {"endpoints": [service]}}),
        "GATEWAY_HTTP__MAX_CONNECTIONS": room,
        "GATEWAY_HTTP__MAX_IN_FLIGHT_REQUESTS": room,
        "GATEWAY_STREAMS__MAX_TOTAL": str(watchers + 50),
        "GATEWAY_STREAMS__HEARTBEAT_SECONDS": str(heartbeat),
    }


async def metric(client: httpx.AsyncClient, url: str, name: str) -> float:
    """The sum of every series of `name` in a Prometheus text page."""
    text = (await client.get(url)).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((name + " ", name + "{")))


class Watchers:
    """The client side: one user, one task and one stream per watcher."""

    def __init__(self, base_url: str, tokens: Tokens, count: int) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=PHASE_TIMEOUT_SECONDS,
                                        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None))
        self.headers = [{"authorization": f"Bearer {tokens.token(f'watcher-{i}')}"} for i in range(count)]
        self.tasks: list[str] = []
        self.first: list[dict[str, Any] | None] = [None] * count
        self.last: list[dict[str, Any] | None] = [None] * count
        self.opened = 0
        self.all_open = asyncio.Event()

    async def create_tasks(self) -> None:
        async def create(headers: dict[str, str]) -> str:
            response = await self.client.post("/api/v1/postcards/create", headers=headers, json=CREATE_BODY)
            response.raise_for_status()
            return str(response.json()["task_id"])

        semaphore = asyncio.Semaphore(20)

        async def bounded(headers: dict[str, str]) -> str:
            async with semaphore:
                return await create(headers)

        self.tasks = await asyncio.gather(*(bounded(h) for h in self.headers))

    async def watch(self, index: int, may_open: asyncio.Semaphore) -> None:
        """Open the stream (at most `OPEN_BATCH` opening at once), note its first and last events."""
        path = f"/api/v1/postcards/status/{self.tasks[index]}/events"
        headers = {**self.headers[index], "accept": "text/event-stream"}
        await may_open.acquire()
        opening = True
        try:
            async with self.client.stream("GET", path, headers=headers) as response:
                events = sse(response)
                self.first[index] = await anext(events)
                may_open.release()
                opening = False
                self.opened += 1
                if self.opened == len(self.headers):
                    self.all_open.set()
                async for event in events:
                    self.last[index] = event
        finally:
            if opening:
                may_open.release()


def rss(server: Server) -> int:
    return cpu.rss_bytes(server.pid)


async def measure(args: argparse.Namespace, children: Children, pinning: Pinning) -> dict[str, Any]:
    tokens = Tokens(args.work_dir)
    env = service_env(args.work_dir, args.check_interval, tokens.jwks_path)
    service = children.start_server("postcard-service", ["services.postcard", "--port", "0", "--no-embedded-worker"],
                                    cpus=pinning.server_cpus, env=env)
    service.wait_listening(START_TIMEOUT_SECONDS)
    metrics_port = service.logged_value("serving metrics", "metrics_port")
    service_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    gateway = children.start_server("gateway", ["gateway", "--port", "0"], cpus=pinning.server_cpus,
                                    env=streaming_gateway_env(service.target, tokens.jwks_path, args.watchers,
                                                              args.heartbeat))
    gateway.wait_listening(START_TIMEOUT_SECONDS)
    gateway_metrics = f"{gateway.url}/actuator/prometheus"
    watchers = Watchers(gateway.url, tokens, args.watchers)
    result: dict[str, Any] = {"watchers": args.watchers, "idle_seconds": args.idle_seconds,
                              "check_interval_seconds": args.check_interval, "heartbeat_seconds": args.heartbeat}
    try:
        log(f"creating {args.watchers} tasks")
        await watchers.create_tasks()
        baseline = {"gateway": rss(gateway), "service": rss(service)}

        log(f"opening {args.watchers} streams")
        started = time.monotonic()
        may_open = asyncio.Semaphore(OPEN_BATCH)
        watching = [asyncio.create_task(watchers.watch(i, may_open)) for i in range(args.watchers)]
        async with asyncio.timeout(PHASE_TIMEOUT_SECONDS):
            await watchers.all_open.wait()
        result["open_seconds"] = round(time.monotonic() - started, 2)
        await asyncio.sleep(3 * args.check_interval)  # every watch registered with the service's loop
        open_rss = {"gateway": rss(gateway), "service": rss(service)}
        result["gateway_streams_open"] = await metric(watchers.client, gateway_metrics, "gateway_http_streams_open")
        result["service_watches"] = await metric(watchers.client, service_metrics, "postcard_task_watches")
        result["first_events_processing"] = sum(
            1 for event in watchers.first if event and event["data"] == {"status": "processing"})

        log(f"idle window: {args.idle_seconds} s")
        checks_before = await metric(watchers.client, service_metrics, "postcard_task_watch_check_seconds_count")
        check_sum_before = await metric(watchers.client, service_metrics, "postcard_task_watch_check_seconds_sum")
        cpu_before = {"gateway": cpu.cpu_seconds(gateway.pid), "service": cpu.cpu_seconds(service.pid)}
        await asyncio.sleep(args.idle_seconds)
        idle_cpu = {name: cpu.cpu_seconds(server.pid) - cpu_before[name]
                    for name, server in (("gateway", gateway), ("service", service))}
        checks = await metric(watchers.client, service_metrics, "postcard_task_watch_check_seconds_count")
        check_sum = await metric(watchers.client, service_metrics, "postcard_task_watch_check_seconds_sum")

        log("completing every task with a worker process")
        cpu_before = {"gateway": cpu.cpu_seconds(gateway.pid), "service": cpu.cpu_seconds(service.pid)}
        started = time.monotonic()
        children.start_server("worker", ["services.postcard.worker_main", "--count", "4"], cpus=pinning.load_cpus,
                              env=env)
        async with asyncio.timeout(PHASE_TIMEOUT_SECONDS):
            await asyncio.gather(*watching)
        completion_seconds = time.monotonic() - started
        completion_cpu = {"gateway": cpu.cpu_seconds(gateway.pid) - cpu_before["gateway"],
                          "service": cpu.cpu_seconds(service.pid) - cpu_before["service"]}
        result["completion_seconds"] = round(completion_seconds, 2)
        result["service_watches_after"] = await metric(watchers.client, service_metrics, "postcard_task_watches")
    finally:
        await watchers.client.aclose()

    n = args.watchers
    result["terminal_events"] = sum(
        1 for event in watchers.last
        if event and event["data"].get("status") == "completed" and event["data"]["data"].get("postcard_id"))
    result["rss_mib"] = {name: {"before": round(baseline[name] / 2**20, 1), "open": round(open_rss[name] / 2**20, 1)}
                         for name in baseline}
    result["gateway_kib_per_stream"] = round((open_rss["gateway"] - baseline["gateway"]) / 1024 / n, 1)
    result["service_kib_per_watch"] = round((open_rss["service"] - baseline["service"]) / 1024 / n, 1)
    result["gateway_idle_cpu_percent"] = round(100 * idle_cpu["gateway"] / args.idle_seconds, 2)
    result["service_idle_cpu_percent"] = round(100 * idle_cpu["service"] / args.idle_seconds, 2)
    window_checks = checks - checks_before
    result["checks_in_idle_window"] = int(window_checks)
    result["mean_check_ms"] = round(1000 * (check_sum - check_sum_before) / window_checks, 3) if window_checks else None
    result["completion_cpu_seconds"] = {name: round(value, 2) for name, value in completion_cpu.items()}
    return result


def judge(result: dict[str, Any]) -> list[str]:
    """What is wrong with a run: missed terminal events, and figures beyond their bounds (for 1,000 watchers)."""
    problems = []
    if result["terminal_events"] != result["watchers"]:
        problems.append(f"{result['watchers'] - result['terminal_events']} watchers missed their terminal event")
    for name, bound in BOUNDS.items():
        value = result.get(name)
        if value is None or value > bound:
            problems.append(f"{name} = {value}, beyond its bound of {bound}")
    return problems


def table(result: dict[str, Any]) -> str:
    n = result["watchers"]
    rows = [
        ("watchers (one user and one task each)", f"{n}"),
        ("first event 'processing' / terminal event 'completed'",
         f"{result['first_events_processing']} / {result['terminal_events']}"),
        ("streams open at the gateway / watches at the service",
         f"{result['gateway_streams_open']:.0f} / {result['service_watches']:.0f}"),
        ("time to open every stream", f"{result['open_seconds']} s"),
        ("gateway RSS before -> with every stream open",
         f"{result['rss_mib']['gateway']['before']} -> {result['rss_mib']['gateway']['open']} MiB"
         f" ({result['gateway_kib_per_stream']} KiB per stream)"),
        ("service RSS before -> with every watch",
         f"{result['rss_mib']['service']['before']} -> {result['rss_mib']['service']['open']} MiB"
         f" ({result['service_kib_per_watch']} KiB per watch)"),
        (f"idle CPU over {result['idle_seconds']:g} s: gateway / service",
         f"{result['gateway_idle_cpu_percent']}% / {result['service_idle_cpu_percent']}% of a core"),
        ("service checks in the idle window, mean duration of one (all tasks, one query)",
         f"{result['checks_in_idle_window']}, {result['mean_check_ms']} ms"),
        ("every task completed -> every watcher had its terminal event", f"{result['completion_seconds']} s"),
        ("CPU in that phase: gateway / service",
         f"{result['completion_cpu_seconds']['gateway']} s / {result['completion_cpu_seconds']['service']} s"),
        ("watches left at the service afterwards", f"{result['service_watches_after']:.0f}"),
    ]
    return "\n".join(["| figure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])


def main() -> int:
    args = parse_args()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pinning = Pinning()
    load, server = pinning.load_cpus, pinning.server_cpus
    note = f"client and worker on cores {sorted(load)}, gateway and service on {sorted(server)}" if load and server \
        else pinning.note
    log(note)
    children = Children(args.work_dir, pinning)
    try:
        result = asyncio.run(measure(args, children, pinning))
    except KeyboardInterrupt:
        log("interrupted: stopping every process started")
        return 130
    finally:
        children.stop_all()
    result["run"] = {"date": now(), **git_commit(), "command": " ".join(["python -m bench.watchers", *sys.argv[1:]])}
    result["machine"] = machine()
    result["pinning"] = note
    result["pids"] = children.pids
    result["bounds"] = BOUNDS
    problems = [] if args.no_bounds else judge(result)
    if args.no_bounds and result["terminal_events"] != result["watchers"]:
        problems.append(f"{result['watchers'] - result['terminal_events']} watchers missed their terminal event")
    result["problems"] = problems
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    log(f"JSON: {args.json}; servers' logs: {args.work_dir}")
    for problem in problems:
        log(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
