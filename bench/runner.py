"""The plan of one benchmark run: start everything, warm up, interleaved rounds, then memory and workers.

Per round, in this order, each for `duration` seconds: the three reference
servers and the gateway under load (`connections` connections), the gateway
calling a second stub over mutual TLS, the gateway under light load (one
connection), the direct grpc.aio client, the gateway answering creates.
Medians over the rounds are what the report shows. Interleaving spreads the
machine's drift (other tenants, thermal) over all rows instead of letting it
land on one.
"""
from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trust.certs import Identity, ensure

from . import cpu, servers
from .load import Request, WrkResult, many_users_script, request_script, run_wrk
from .processes import Children, Pinning, Server
from .stub_backend import CREATE_BODY, POSTCARD_ID
from .tokens import Tokens

GET_PATH = f"/api/v1/postcards/{POSTCARD_ID}"
CREATE_PATH = "/api/v1/postcards/create"
ME_PATH = "/api/v1/postcards/me"
LIVENESS_PATH = "/actuator/health/liveness"  # answered by the gateway alone: no upstream call
MEMORY_CHUNK_SECONDS = 10  # the memory run is several wrk runs back to back, RSS read between them


@dataclass(frozen=True)
class Options:
    duration: int
    rounds: int
    connections: int
    warmup_seconds: int
    memory_seconds: int
    memory_users: int
    work_dir: Path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, options: Options, children: Children, pinning: Pinning) -> None:
        self.options = options
        self.children = children
        self.pinning = pinning
        self.tokens = Tokens(options.work_dir)
        self.token = self.tokens.token()
        self.get_script = request_script(options.work_dir / "get.lua", Request(GET_PATH, self.token))
        create = Request(CREATE_PATH, self.token, method="POST", body=json.dumps(CREATE_BODY, ensure_ascii=False))
        self.create_script = request_script(options.work_dir / "create.lua", create)
        self.stub: Server | None = None
        self.tls = options.work_dir / "tls"  # a throwaway internal CA for the mutual-TLS row
        ensure(self.tls, [Identity("gateway"), Identity("stub-backend")])

    def run(self) -> dict[str, Any]:
        pin = self.pinning
        self.stub = stub = servers.start_stub(self.children, pin.load_cpus, self.tokens.jwks_path)
        tls_stub = servers.start_stub(self.children, pin.load_cpus, self.tokens.jwks_path,
                                      self.tls / "stub-backend", name="stub-backend-mtls")
        started = {kind: servers.start_reference(self.children, kind, stub.target, pin.server_cpus)
                   for kind in servers.REFERENCES}
        started["raw_gateway_grpc"] = servers.start_reference(
            self.children, "raw", stub.target, pin.server_cpus, name="raw-gateway-grpc",
            env={**os.environ, **servers.GATEWAY_GRPC},
        )
        started["gateway"] = servers.start_gateway(self.children, stub.target, self.tokens.jwks_path, pin.server_cpus)
        started["gateway_mtls"] = servers.start_gateway(self.children, tls_stub.target, self.tokens.jwks_path,
                                                        pin.server_cpus, name="gateway-mtls",
                                                        tls_dir=self.tls / "gateway")
        for server in started.values():
            server.wait_listening(servers.START_TIMEOUT_SECONDS)
        gateway = started["gateway"]
        probes = {name: probe(server, "GET", GET_PATH, self.token) for name, server in started.items()}
        probes["gateway_create"] = probe(gateway, "POST", CREATE_PATH, self.token, CREATE_BODY)
        if self.options.warmup_seconds:
            log(f"warm-up: {self.options.warmup_seconds} s each")
            for server in started.values():
                self.load(server, self.get_script, GET_PATH, self.options.warmup_seconds, self.options.connections)

        plan: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            *((kind, lambda s=started[kind]: self.load(s, self.get_script, GET_PATH)) for kind in servers.REFERENCES),
            ("raw_gateway_grpc", lambda: self.load(started["raw_gateway_grpc"], self.get_script, GET_PATH)),
            ("gateway", lambda: self.load(gateway, self.get_script, GET_PATH)),
            ("gateway_mtls", lambda: self.load(started["gateway_mtls"], self.get_script, GET_PATH, stub=tls_stub)),
            ("raw_light", lambda: self.load(started["raw"], self.get_script, GET_PATH, connections=1)),
            ("gateway_light", lambda: self.load(gateway, self.get_script, GET_PATH, connections=1)),
            ("direct_light", self.direct),
            ("gateway_create", lambda: self.load(gateway, self.create_script, CREATE_PATH)),
        ]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in plan}
        for round_number in range(1, self.options.rounds + 1):
            for name, measure in plan:
                log(f"round {round_number}/{self.options.rounds}: {name}")
                runs[name].append(measure())
        return {
            "probes": probes,
            "rows": {name: {"median": medians(results), "runs": results} for name, results in runs.items()},
            "memory": self.memory(gateway),
            "workers": self.workers(),
            "identity": self.identity(),
            "servers": {name: {"pid": s.pid, "port": s.port}
                        for name, s in {"stub": stub, "stub_mtls": tls_stub, **started}.items()},
        }

    def load(self, server: Server, script: Path, path: str, seconds: int | None = None,
             connections: int | None = None, *, tree: bool = False, pinned: bool = True,
             script_args: list[str] | None = None, stub: Server | None = None) -> dict[str, Any]:
        """One wrk run against `server`, with the CPU time its process (or process tree) and its stub spent."""
        stub = stub or self.stub
        assert stub is not None
        seconds = seconds or self.options.duration
        server_cpu = cpu.tree_cpu_seconds if tree else cpu.cpu_seconds
        before, stub_before = server_cpu(server.pid), cpu.cpu_seconds(stub.pid)
        machine_before = cpu.machine_busy_seconds()
        result = run_wrk(self.children, server.url + path, script, seconds=seconds,
                         connections=connections or self.options.connections,
                         cpus=self.pinning.load_cpus if pinned else None, script_args=script_args)
        used, stub_used = server_cpu(server.pid) - before, cpu.cpu_seconds(stub.pid) - stub_before
        return with_cpu(result, used, stub_used, cpu.machine_busy_seconds() - machine_before)

    def direct(self) -> dict[str, Any]:
        """The direct grpc.aio client, one call at a time, where the gateway would run (the server core)."""
        assert self.stub is not None
        seconds = self.options.duration
        argv = [sys.executable, "-m", "bench.direct_client", "--backend", self.stub.target, "--seconds", str(seconds),
                "--token", self.token]
        stub_before = cpu.cpu_seconds(self.stub.pid)
        # With the gateway's grpc setting: the call as the gateway makes it.
        result = json.loads(self.children.run(argv, cpus=self.pinning.server_cpus, timeout=seconds + 60,
                                              env={**os.environ, **servers.GATEWAY_GRPC}))
        stub_used = cpu.cpu_seconds(self.stub.pid) - stub_before  # includes the client's warm-up calls
        result["requests_per_second"] = result["requests"] / result["seconds"]
        result["server_cpu_percent"] = None  # the client measures itself; there is no server process here
        result["backend_cpu_us_per_request"] = stub_used * 1e6 / result["requests"]
        result["machine_cpu_percent"] = None  # the process's start-up would count: not measured for this row
        result["errors"] = {}
        return result

    def identity(self) -> dict[str, Any]:
        """What naming the caller costs a service per call (bench.identity), on the server core."""
        argv = [sys.executable, "-m", "bench.identity", "--seconds", str(max(1, self.options.duration // 5))]
        log("identity: per-call cost of the caller's token")
        return dict(json.loads(self.children.run(argv, cpus=self.pinning.server_cpus, timeout=120)))

    def memory(self, gateway: Server) -> dict[str, Any]:
        """Gateway RSS before and after a bounded load of many distinct users, on two routes."""
        options = self.options
        users = self.tokens.write_many(options.work_dir / "tokens.txt", options.memory_users)
        script = many_users_script(options.work_dir / "many-users.lua")
        before = cpu.rss_bytes(gateway.pid)
        samples, chunks, left = [], [], options.memory_seconds
        log(f"memory: {options.memory_users} users for {options.memory_seconds} s")
        while left > 0:
            seconds = min(MEMORY_CHUNK_SECONDS, left)
            chunks.append(self.load(gateway, script, GET_PATH, seconds, script_args=[str(users), GET_PATH, ME_PATH]))
            samples.append(cpu.rss_bytes(gateway.pid))
            left -= seconds
        requests = sum(c["requests"] for c in chunks)
        return {
            "users": options.memory_users,
            "seconds": options.memory_seconds,
            "routes": ["GET /api/v1/postcards/{id}", f"GET {ME_PATH}"],
            "requests": requests,
            "errors": {k: sum(c["errors"][k] for c in chunks) for k in chunks[0]["errors"]},
            "cpu_us_per_request": sum(c["cpu_us_per_request"] * c["requests"] for c in chunks) / max(requests, 1),
            "rss_before_bytes": before,
            "rss_after_bytes": samples[-1],
            "rss_growth_bytes": samples[-1] - before,
            "rss_samples_bytes": samples,
        }

    def workers(self) -> dict[str, Any]:
        """1 and 2 gateway worker processes, when the gateway takes --workers; nothing pinned (they need cores).

        Each count serves two loads: the postcard GET, whose stub backend and wrk need about a core of
        their own (so the machine, not the gateway, bounds it on two cores: the machine CPU column shows
        it), and the liveness probe, which calls no upstream and so shows how far the workers themselves
        scale on the cores the machine has."""
        if not servers.gateway_supports_workers(self.children):
            return {"supported": False, "note": "not supported yet: `python -m gateway --help` has no --workers"}
        assert self.stub is not None
        rows = {}
        for count in (1, 2):
            name = f"gateway_workers_{count}"
            # A fixed free port: with SO_REUSEPORT, port 0 would give each worker a port of its own.
            server = servers.start_gateway(self.children, self.stub.target, self.tokens.jwks_path, None,
                                           name=name, port=servers.free_port(), workers=count)
            try:
                server.wait_listening(servers.START_TIMEOUT_SECONDS)
                # Workers may log the parent's bound port before any of them accepts connections.
                probe(server, "GET", GET_PATH, self.token, retry_seconds=servers.START_TIMEOUT_SECONDS)
                for row, path in ((name, GET_PATH), (f"{name}_liveness", LIVENESS_PATH)):
                    self.load(server, self.get_script, path, self.options.warmup_seconds or 1, tree=True,
                              pinned=False)
                    results = [self.load(server, self.get_script, path, tree=True, pinned=False)
                               for _ in range(self.options.rounds)]
                    rows[row] = {"median": medians(results), "runs": results}
            finally:
                self.children.stop(server.process)
        return {"supported": True, "note": "gateway and wrk not pinned; CPU summed over the gateway's processes",
                "rows": rows}


def with_cpu(result: WrkResult, server_seconds: float, stub_seconds: float, machine_seconds: float) -> dict[str, Any]:
    requests = max(result.requests, 1)
    return {
        **result.as_dict(),
        "cpu_us_per_request": server_seconds * 1e6 / requests,
        "server_cpu_percent": 100 * server_seconds / result.seconds if result.seconds else 0.0,
        "backend_cpu_us_per_request": stub_seconds * 1e6 / requests,
        # Every process of the machine (wrk, the stub, idle servers, other tenants): 100% per busy core.
        "machine_cpu_percent": 100 * machine_seconds / result.seconds if result.seconds else 0.0,
    }


def medians(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ["requests_per_second", "p50_ms", "p99_ms", "cpu_us_per_request", "server_cpu_percent",
            "backend_cpu_us_per_request", "machine_cpu_percent"]
    median = {k: statistics.median(r[k] for r in results) if results[0].get(k) is not None else None for k in keys}
    median["requests"] = sum(r["requests"] for r in results)
    median["errors"] = sum(sum(r["errors"].values()) for r in results)
    return median


def probe(server: Server, method: str, path: str, token: str, body: dict[str, Any] | None = None,
          retry_seconds: float = 0) -> dict[str, Any]:
    """One request before any load: the server answers 2xx, and how large its answer is.

    A refused connection is tried again for up to `retry_seconds`."""
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", **({"Content-Type": "application/json"} if payload else {})}
    deadline = time.monotonic() + retry_seconds
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            break
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
        finally:
            connection.close()
    if not 200 <= response.status < 300:
        raise RuntimeError(f"{server.name}: {method} {path} answered {response.status}: {answer[:300]!r}")
    return {"status": response.status, "body_bytes": len(answer)}


def run(options: Options, children: Children, pinning: Pinning) -> dict[str, Any]:
    started = time.monotonic()
    results = Bench(options, children, pinning).run()
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    return results
