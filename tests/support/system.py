"""Our programs as a small system of real processes for one test: services, gateways, tokens, a load.

Every process is a child of the test (`tests.support.processes.Child`), started with `python -m`
and stopped by PID when the test ends; loads are bounded in request count.
"""
from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

from gateway.settings import POSTCARD_SERVICE
from tests.support.keys import SigningKey
from tests.support.pki import tls_env
from tests.support.processes import Child
from tests.support.waiting import wait_until


class ProcessSystem:
    """Children started by one test; all stopped at its end."""

    def __init__(self, root: Path, stack: AsyncExitStack, pki: Path) -> None:
        self.root = root
        self.pki = pki  # the internal hop is mutual TLS, as deployed (tests.support.pki)
        self.key = SigningKey()
        self.jwks = self.key.write_jwks(root / "jwks.json")
        self.db = root / "postcards.sqlite3"
        self._stack = stack

    def token(self, user: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key.token(sub=user, ttl=600)}"}

    def _postcard_env(self, drain: float = 0) -> dict[str, str]:
        return {
            "POSTCARD_SERVICE_DB_PATH": str(self.db),
            "POSTCARD_SERVICE_GRACE_SECONDS": "0.5",
            "POSTCARD_SERVICE_DRAIN_SECONDS": str(drain),
            "POSTCARD_SERVICE_WORKER__POLL_INTERVAL_SECONDS": "0.05",
            "POSTCARD_SERVICE_WORKER__LEASE_SECONDS": "5",
            "POSTCARD_SERVICE_GENERATOR__DELAY_SECONDS": "0.05",
            "POSTCARD_SERVICE_WATCH__INTERVAL_SECONDS": "0.05",
            # Loads here create far faster than one user would; admission control has tests of its own.
            "POSTCARD_SERVICE_ADMISSION__MAX_UNFINISHED_PER_USER": "100000",
            "POSTCARD_SERVICE_AUTH__JWKS_PATH": str(self.jwks),
            **tls_env(self.pki, "postcard-service", "POSTCARD_SERVICE_TLS__"),
        }

    async def postcard_service(self, name: str, port: int = 0, drain: float = 0, *, embedded_worker: bool = True,
                               **env: str) -> Child:
        args = ["services.postcard", "--port", str(port), *([] if embedded_worker else ["--no-embedded-worker"])]
        child = Child(name, args, {**self._postcard_env(drain), **env}, self.root)
        self._stack.push_async_callback(child.stop)
        await child.wait_listening()
        return child

    def postcard_worker(self, name: str) -> Child:
        """A `worker_main` process on the same database (it has no port to wait for)."""
        child = Child(name, ["services.postcard.worker_main"], self._postcard_env(), self.root)
        self._stack.push_async_callback(child.stop)
        return child

    async def gateway(self, name: str, services: list[Child], upstream: dict[str, Any] | None = None,
                      args: list[str] | None = None, *, upstream_tls: bool = True, **env: str) -> httpx.AsyncClient:
        """A gateway in front of `services`; `upstream_tls=False` makes it call them in plaintext (a mistake)."""
        tls = (tls_env(self.pki, "gateway", "GATEWAY_UPSTREAM_TLS__") if upstream_tls
               else {"GATEWAY_UPSTREAM_TLS__INSECURE_PLAINTEXT": "true"})
        upstreams = {POSTCARD_SERVICE: {"endpoints": [f"127.0.0.1:{s.port}" for s in services],
                                        "tls_server_name": "postcard-service",
                                        "health": {"reconnect_initial_seconds": 0.05, "reconnect_max_seconds": 0.5},
                                        **(upstream or {})}}
        child = Child(name, ["gateway", "--port", "0", *(args or [])], {
            "GATEWAY_AUTH__JWKS_PATH": str(self.jwks),
            "GATEWAY_UPSTREAMS": json.dumps(upstreams),
            "GATEWAY_RATE_LIMIT__DEFAULT": "1000/second",
            "GATEWAY_RATE_LIMIT__ROUTES": "{}",
            "GATEWAY_HTTP__DRAIN_SECONDS": "0",
            **tls,
            **env,
        }, self.root)
        self._stack.push_async_callback(child.stop)
        await child.wait_listening()
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{child.port}", timeout=30)
        client.child = child  # type: ignore[attr-defined]
        self._stack.push_async_callback(client.aclose)
        return client

    async def postcard(self, client: httpx.AsyncClient, user: str) -> str:
        """Create a postcard through the gateway and wait for it; its id."""
        created = await client.post("/api/v1/postcards/create", headers=self.token(user),
                                    json={"mood": "calm", "style": "ink", "theme": "rain"})
        assert created.status_code == 202, created.text
        task = created.json()["task_id"]
        result: dict[str, Any] = {}

        async def done() -> bool:
            status = (await client.get(f"/api/v1/postcards/status/{task}", headers=self.token(user))).json()
            result.update(status)
            return status["status"] != "processing"

        await wait_until(done, 30, "postcard generated")
        assert result["status"] == "completed", result
        return result["data"]["postcard_id"]


async def bounded_load(
    request: Callable[[], Awaitable[httpx.Response]], total: int, concurrency: int,
    at: int = -1, action: Callable[[], None] | None = None,
) -> Counter[int]:
    """`total` requests, `concurrency` at a time; `action` runs once when `at` responses have arrived."""
    statuses: Counter[int] = Counter()
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < total:
            issued += 1
            statuses[(await request()).status_code] += 1
            if statuses.total() == at and action is not None:
                action()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses
