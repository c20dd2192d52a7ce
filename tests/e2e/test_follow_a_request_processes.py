"""One create request followed through real processes — the gateway, a postcard-service without
embedded workers, and a standalone worker — by its request id in their JSON logs, and by its trace
in what they export over OTLP.

Every process is a child of the test (`python -m`, port 0, stopped by PID); waits are bounded.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.settings import POSTCARD_SERVICE
from tests.support.keys import SigningKey
from tests.support.otlp import OtlpReceiver, otlp_receiver
from tests.support.pki import tls_env
from tests.support.processes import Child
from tests.support.waiting import wait_until

CREATE = "/postcardapp.postcard.v1.PostcardService/CreatePostcard"


class Processes:
    """Gateway -> postcard-service -> (SQLite queue) -> worker, as separate processes."""

    def __init__(self, root: Path, stack: AsyncExitStack, pki: Path) -> None:
        self.root = root
        self.pki = pki
        self.key = SigningKey()
        self._stack = stack

    async def start(self, **env: str) -> None:
        service_env = {
            "POSTCARD_SERVICE_DB_PATH": str(self.root / "postcards.sqlite3"),
            "POSTCARD_SERVICE_GRACE_SECONDS": "0.5",
            "POSTCARD_SERVICE_DRAIN_SECONDS": "0",
            "POSTCARD_SERVICE_WORKER__POLL_INTERVAL_SECONDS": "0.05",
            "POSTCARD_SERVICE_GENERATOR__DELAY_SECONDS": "0.05",
            "POSTCARD_SERVICE_AUTH__JWKS_PATH": str(self.key.write_jwks(self.root / "jwks.json")),
            **tls_env(self.pki, "postcard-service", "POSTCARD_SERVICE_TLS__"),
            **env,
        }
        self.service = await self._child("postcard-service", ["services.postcard", "--port", "0",
                                                               "--no-embedded-worker"], service_env)
        await self.service.wait_listening()
        self.worker = await self._child("postcard-worker", ["services.postcard.worker_main"], service_env)
        await wait_until(lambda: self.worker.logged("postcard-worker running"), 30, "the worker runs")
        upstreams = {POSTCARD_SERVICE: {"endpoints": [f"127.0.0.1:{self.service.port}"],
                                        "tls_server_name": "postcard-service"}}
        self.gateway = await self._child("gateway", ["gateway", "--port", "0"], {
            "GATEWAY_AUTH__JWKS_PATH": str(self.root / "jwks.json"),
            **tls_env(self.pki, "gateway", "GATEWAY_UPSTREAM_TLS__"),
            "GATEWAY_UPSTREAMS": json.dumps(upstreams),
            "GATEWAY_HTTP__DRAIN_SECONDS": "0",
            **env,
        })
        await self.gateway.wait_listening()
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.gateway.port}", timeout=30)
        self._stack.push_async_callback(self.http.aclose)

    async def _child(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        child = Child(name, args, env, self.root)
        self._stack.push_async_callback(child.stop)
        return child

    async def create_and_wait(self, request_id: str) -> str:
        """A postcard created through the gateway under `request_id`, generated; its task id."""
        auth = {"authorization": f"Bearer {self.key.token(sub='alice', ttl=600)}"}
        created = await self.http.post("/api/v1/postcards/create", headers={**auth, "x-request-id": request_id},
                                       json={"mood": "calm", "style": "ink", "theme": "rain"})
        assert created.status_code == 202, created.text
        assert created.headers["x-request-id"] == request_id
        task_id: str = created.json()["task_id"]
        status: dict[str, Any] = {}

        async def finished() -> bool:
            status.update((await self.http.get(f"/api/v1/postcards/status/{task_id}", headers=auth)).json())
            return status["status"] != "processing"

        await wait_until(finished, 30, "the postcard generated")
        assert status["status"] == "completed", status
        return task_id


@pytest.fixture
async def processes(tmp_path: Path, pki: Path) -> AsyncIterator[Processes]:
    async with AsyncExitStack() as stack:
        yield Processes(tmp_path, stack, pki)


@pytest.fixture
async def otlp() -> AsyncIterator[tuple[OtlpReceiver, dict[str, str]]]:
    """Asked for before `processes`, so that it outlives them: their last spans are flushed as they stop."""
    async with otlp_receiver() as receiving:
        yield receiving


def one(lines: list[dict[str, Any]], what: str) -> dict[str, Any]:
    assert len(lines) == 1, f"{what}: {lines}"
    return lines[0]


async def test_the_request_id_of_a_create_is_on_the_gateways_the_services_and_the_workers_lines(
    processes: Processes,
) -> None:
    await processes.start(OTEL_SDK_DISABLED="true")
    request_id = f"follow-me-{uuid.uuid4().hex}"

    task_id = await processes.create_and_wait(request_id)

    def logged() -> bool:
        return bool(processes.worker.logged("task completed", task_id=task_id))

    await wait_until(logged, 10, "the worker's line")
    access = one([r for r in processes.gateway.logged("access", request_id=request_id)
                  if r["logger"] == "gateway.access"], "the gateway's access line")
    assert (access["route"], access["status"]) == ("/api/v1/postcards/create", 202)
    rpc = one(processes.service.logged("rpc", method=CREATE, request_id=request_id), "the service's line")
    assert (rpc["logger"], rpc["grpc_code"], rpc["user_id"]) == ("services.rpc", "OK", "alice")
    done = one(processes.worker.logged("task completed", task_id=task_id), "the worker's line")
    assert done["request_id"] == request_id
    assert processes.worker.logged("task claimed", task_id=task_id, request_id=request_id)


async def test_one_trace_spans_gateway_and_service_and_the_workers_span_links_to_it(
    otlp: tuple[OtlpReceiver, dict[str, str]], processes: Processes
) -> None:
    receiver, otel_env = otlp
    await processes.start(**otel_env)

    task_id = await processes.create_and_wait(f"traced-{uuid.uuid4().hex}")

    def exported() -> bool:
        return bool(receiver.spans("postcard-service", CREATE)
                    and receiver.spans("postcard-worker", "process postcard task")
                    and receiver.spans("postcard-gateway", "POST /api/v1/postcards/create"))

    await wait_until(exported, 30, "the spans of the create exported")
    [gateway_span] = receiver.spans("postcard-gateway", "POST /api/v1/postcards/create")
    [service_span] = receiver.spans("postcard-service", CREATE)
    [work] = receiver.spans("postcard-worker", "process postcard task")
    assert service_span.trace_id == gateway_span.trace_id
    [link] = work.links
    assert (link.trace_id, link.span_id) == (service_span.trace_id, service_span.span_id)
    # The worker's lines carry its own trace id, the one that links back to the request.
    done = one(processes.worker.logged("task completed", task_id=task_id), "the worker's line")
    assert done["trace_id"] == work.trace_id.hex()
