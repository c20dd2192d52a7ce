"""Load generation with wrk: one bounded run at a time, its figures read from a Lua `done` hook.

Each run writes a small Lua script: the method, body and headers of the
request (fixed, so wrk builds it once), or, for the memory run, a `request`
function cycling through many users' tokens and two routes. Every script
ends with the same `done` hook, which prints the summary as one JSON line:
wrk's own latency histogram, the same one `--latency` prints.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .processes import Children

WRK = "wrk"
_MARK = "BENCH_RESULT "
_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
    .. '"p50_us":%d,"p99_us":%d}\n',
    "MARK", summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
""".replace("MARK", _MARK)
_MANY_USERS = r"""
local tokens, paths, i = {}, {}, 0
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  paths = {args[2], args[3]}
end
-- Every request another user; each full pass over the users switches route, so each user uses both.
request = function()
  i = i + 1
  local path = paths[math.floor(i / #tokens) % #paths + 1]
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[i % #tokens + 1]})
end
"""


@dataclass(frozen=True)
class Request:
    """What one run sends, on every request."""

    path: str
    token: str
    method: str = "GET"
    body: str | None = None


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]  # connect, read, write, status (non-2xx/3xx answers), timeout

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lua_string(text: str) -> str:
    """A Lua string literal: JSON's escapes of quote and backslash are Lua's too (but not JSON's \\uXXXX)."""
    if any(ord(c) < 0x20 for c in text):
        raise ValueError("control characters are not supported in wrk script strings")
    return json.dumps(text, ensure_ascii=False)


def request_script(path: Path, request: Request) -> Path:
    lines = [f"wrk.method = {_lua_string(request.method)}",
             f'wrk.headers["Authorization"] = {_lua_string("Bearer " + request.token)}']
    if request.body is not None:
        lines += [f"wrk.body = {_lua_string(request.body)}", 'wrk.headers["Content-Type"] = "application/json"']
    path.write_text("\n".join(lines) + "\n" + _DONE)
    return path


def many_users_script(path: Path) -> Path:
    path.write_text(_MANY_USERS + _DONE)
    return path


def run_wrk(children: Children, url: str, script: Path, *, seconds: int, connections: int,
            cpus: set[int] | None, script_args: list[str] | None = None) -> WrkResult:
    """One bounded wrk run (one thread: it has one core) against `url`."""
    argv = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s", "-s", str(script), url]
    if script_args:
        argv += ["--", *script_args]
    output = children.run(argv, cpus=cpus, timeout=seconds + 30)
    lines = [line for line in output.splitlines() if line.startswith(_MARK)]
    if not lines:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    raw = json.loads(lines[-1][len(_MARK):])
    seconds_run = raw["duration_us"] / 1e6
    return WrkResult(
        requests=raw["requests"],
        seconds=seconds_run,
        requests_per_second=raw["requests"] / seconds_run if seconds_run else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors={k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
    )
