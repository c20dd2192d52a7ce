"""The figures of a run: the machine, the table, the ratios against the issue's targets; JSON and markdown.

Ratios are of medians within one run: figures drift between runs on a shared
machine, ratios much less. The per-round ratios are shown too, to judge noise.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS_START = "<!-- bench:results:start -->"
DOCS_END = "<!-- bench:results:end -->"
LABELS = {
    "bare": "bare FastAPI, constant JSON",
    "raw": "raw ASGI + grpc.aio + orjson (the floor)",
    "naive": "naive FastAPI + grpc.aio",
    "raw_gateway_grpc": "raw ASGI, with the gateway's grpc setting",
    "gateway": "**gateway**, full pipeline",
    "gateway_mtls": "gateway, mutual TLS to its stub",
    "gateway_create": "gateway, POST create",
    "raw_light": "raw ASGI floor, 1 connection",
    "gateway_light": "gateway, 1 connection",
    "direct_light": "direct grpc.aio call, 1 in flight, the gateway's grpc setting (client's CPU)",
    "gateway_workers_1": "gateway, --workers 1 (not pinned)",
    "gateway_workers_2": "gateway, --workers 2 (not pinned)",
    "gateway_workers_1_liveness": "gateway, --workers 1, liveness probe: no upstream call (not pinned)",
    "gateway_workers_2_liveness": "gateway, --workers 2, liveness probe: no upstream call (not pinned)",
}
# (name, row with 2 workers, row with 1): requests/s gained by a second worker process.
WORKER_GAINS = [
    ("requests/s, --workers 2 ÷ --workers 1, GET /api/v1/postcards/{id}", "gateway_workers_2", "gateway_workers_1"),
    ("requests/s, --workers 2 ÷ --workers 1, liveness probe", "gateway_workers_2_liveness",
     "gateway_workers_1_liveness"),
]
# (name, numerator row, denominator row, target or None): ratios of CPU time per request.
TARGETS = [
    ("gateway ÷ raw ASGI floor", "gateway", "raw", 1.2),
    ("gateway ÷ naive FastAPI", "gateway", "naive", 0.75),
    ("gateway ÷ raw ASGI with the gateway's grpc setting", "gateway", "raw_gateway_grpc", None),
    ("gateway ÷ bare FastAPI", "gateway", "bare", None),
    ("gateway with mutual TLS ÷ gateway", "gateway_mtls", "gateway", None),
]
LIGHT_P50_TARGET_MS = 0.3
PACKAGES = ["grpcio", "protobuf", "uvicorn", "uvloop", "httptools", "fastapi", "starlette", "orjson", "pyjwt"]


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: metadata.version(name) for name in PACKAGES},
        "wrk": wrk[0].split(" Copyright")[0] if wrk else "unknown",
    }


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "gateway_commit": git("log", "-1", "--format=%h", "--", "gateway"),  # where gateway/ last changed
        "dirty": bool(git("status", "--porcelain", "--", "gateway")),
    }


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    rows = results["rows"]
    found: dict[str, Any] = {}
    for name, top, bottom, target in TARGETS:
        per_round = [a["cpu_us_per_request"] / b["cpu_us_per_request"]
                     for a, b in zip(rows[top]["runs"], rows[bottom]["runs"], strict=True)]
        value = rows[top]["median"]["cpu_us_per_request"] / rows[bottom]["median"]["cpu_us_per_request"]
        found[name] = {"value": value, "per_round": per_round, "target_at_most": target,
                       "met": None if target is None else value <= target}
    light, direct = rows["gateway_light"], rows["direct_light"]
    delta = light["median"]["p50_ms"] - direct["median"]["p50_ms"]
    found["light-load p50, gateway − direct grpc.aio (ms)"] = {
        "value": delta,
        "per_round": [a["p50_ms"] - b["p50_ms"] for a, b in zip(light["runs"], direct["runs"], strict=True)],
        "target_at_most": LIGHT_P50_TARGET_MS,
        "met": delta <= LIGHT_P50_TARGET_MS,
    }
    if "raw_light" in rows:  # what the floor itself adds at light load: the part of the target no gateway can spend
        floor = rows["raw_light"]
        found["light-load p50, raw ASGI floor − direct grpc.aio (ms)"] = {
            "value": floor["median"]["p50_ms"] - direct["median"]["p50_ms"],
            "per_round": [a["p50_ms"] - b["p50_ms"] for a, b in zip(floor["runs"], direct["runs"], strict=True)],
            "target_at_most": None,
            "met": None,
        }
    return found


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = dict(results["rows"])
    workers = results["workers"]
    rows.update(workers.get("rows", {}))
    bare = rows["bare"]["median"]["cpu_us_per_request"]
    out = []
    for name, label in LABELS.items():
        if name not in rows:
            if name.startswith("gateway_workers") and not workers["supported"]:
                out.append([label.replace(" (not pinned)", ""), "not supported yet", *[""] * 7])
            continue
        m = rows[name]["median"]
        out.append([
            label,
            f"{m['requests_per_second']:,.0f}",
            f"{m['p50_ms']:.2f}",
            f"{m['p99_ms']:.2f}",
            f"{m['cpu_us_per_request']:.0f}",
            f"{m['cpu_us_per_request'] / bare:.2f}",
            "" if m["server_cpu_percent"] is None else f"{m['server_cpu_percent']:.0f}%",
            f"{m['backend_cpu_us_per_request']:.0f}",
            "" if m.get("machine_cpu_percent") is None else f"{m['machine_cpu_percent']:.0f}%",
        ])
        if m["errors"]:
            out[-1][0] += f" ({m['errors']} errors!)"
    return out


HEADERS = ["server", "req/s", "p50 ms", "p99 ms", "CPU us/req", "x bare", "server CPU", "stub us/req",
           "machine CPU"]


def markdown_table(results: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines)


def text_table(results: dict[str, Any]) -> str:
    rows = [HEADERS, *[[cell.replace("**", "") for cell in row] for row in table_rows(results)]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))) for row in rows)


def ratio_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for name, r in results["ratios"].items():
        unit = " ms" if "ms" in name else "x"
        target = "" if r["target_at_most"] is None else (
            f"  target ≤ {r['target_at_most']}{unit}: {'met' if r['met'] else 'NOT met'}")
        rounds = ", ".join(f"{v:.2f}" for v in r["per_round"])
        lines.append(f"{name}: {r['value']:.2f}{unit}{target}  (rounds: {rounds})")
    return lines


def worker_lines(workers: dict[str, Any], cores: int) -> list[str]:
    """What a second worker process gained, and how busy the whole machine was with one and with two."""
    rows = workers.get("rows", {})
    lines = []
    for name, two, one in WORKER_GAINS:
        if two not in rows or one not in rows:
            continue
        gain = rows[two]["median"]["requests_per_second"] / rows[one]["median"]["requests_per_second"]
        busy = [rows[row]["median"]["machine_cpu_percent"] for row in (one, two)]
        lines.append(f"{name}: {gain:.2f}x  (machine CPU with 1 and 2 workers: {busy[0]:.0f}% and {busy[1]:.0f}% "
                     f"of {cores * 100}%)")
    return lines


def memory_line(memory: dict[str, Any]) -> str:
    mib = 1024 * 1024
    samples = ", ".join(f"{s / mib:.1f}" for s in memory["rss_samples_bytes"])
    return (f"gateway RSS {memory['rss_before_bytes'] / mib:.1f} MiB -> {memory['rss_after_bytes'] / mib:.1f} MiB "
            f"(growth {memory['rss_growth_bytes'] / mib:+.1f} MiB) over {memory['seconds']} s, "
            f"{memory['users']} distinct users on {' and '.join(memory['routes'])}, {memory['requests']:,} requests, "
            f"{memory['cpu_us_per_request']:.0f} us CPU/request; RSS after each chunk (MiB): {samples}")


def identity_line(identity: dict[str, Any]) -> str:
    return (f"naming the caller, per call at a service (bench.identity): the user's JWT verified, cached "
            f"{identity['verify_cached_us']:.1f} us, first call {identity['verify_uncached_us']:.0f} us; "
            f"the alternative, an internal token minted by the gateway and verified by the service, "
            f"{identity['internal_token_sign_and_verify_us']:.0f} us on every call")


def summary(results: dict[str, Any]) -> str:
    run = results["run"]
    head = (f"{run['date']}, commit {run['commit']} (gateway/ as of {run['gateway_commit']}"
            f"{', modified' if run['dirty'] else ''}); "
            f"{run['duration']} s per run, {run['rounds']} round(s), {run['connections']} connections; "
            f"{results['pinning']}")
    workers = "" if results["workers"]["supported"] else f"\nworkers: {results['workers']['note']}"
    return "\n".join([head, "", text_table(results), "", *ratio_lines(results),
                      *worker_lines(results["workers"], results["machine"]["nproc"]), "",
                      memory_line(results["memory"]), identity_line(results["identity"])]) + workers


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def docs_section(results: dict[str, Any], command: str) -> str:
    run, m = results["run"], results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return "\n".join([
        DOCS_START,
        f"Run of {run['date']} on commit `{run['commit']}` (gateway/ as of `{run['gateway_commit']}`"
        f"{', with uncommitted changes' if run['dirty'] else ''}): `{command}`.",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu_model']}), Linux {m['kernel']}, Python {m['python']}; {packages}; "
        f"{m['wrk']}. {results['pinning'].capitalize()}.",
        "",
        markdown_table(results),
        "",
        *(f"- {line}" for line in ratio_lines(results)),
        *(f"- {line}" for line in worker_lines(results["workers"], m["nproc"])),
        f"- {memory_line(results['memory'])}",
        f"- {identity_line(results['identity'])}",
        *([f"- workers: {results['workers']['note']}"] if not results["workers"]["supported"] else []),
        DOCS_END,
    ])


def update_docs(path: Path, results: dict[str, Any], command: str) -> None:
    """Replace the generated part of docs/benchmarks.md (between the markers); the rest is hand-written."""
    text = path.read_text()
    start, end = text.index(DOCS_START), text.index(DOCS_END) + len(DOCS_END)
    path.write_text(text[:start] + docs_section(results, command) + text[end:])


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
