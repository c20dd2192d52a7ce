"""Schemathesis against the gateway's own /openapi.json: no 5xx, no response off its documented schema,
and data valid by the document accepted (the document publishes the rules the gateway enforces).

Every documented route, positive and negative data, authenticated with a real
token from the real login. Bounded: a fixed number of examples per operation,
a fixed seed, and a time budget. The CLI runs as a child process so this test's
event loop keeps serving the in-process system meanwhile.
"""
from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import System, bearer
from tests.support.postcards import seed_postcards

pytestmark = pytest.mark.asyncio(loop_scope="package")

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        # Data valid by the document is accepted: the rules it publishes are the ones enforced.
        "positive_data_acceptance",
    ]
)
# What valid data may meet besides acceptance, beyond schemathesis' own list (2xx, 3xx, 401, 403, 404,
# 409, 429, 5xx, the last caught by not_a_server_error): a create's Idempotency-Key reused with another
# body is 422 (the IETF draft's status for this conflict with an earlier request, which 409 is for others).
# A page token is opaque: only one the service issued to the caller is valid, which no schema can say, so
# /postcards/me is given one, as a client gets it (from a Link header).
CONFIG = """
[[operations]]
include-path = "/api/v1/postcards/create"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-path = "/api/v1/postcards/me"
parameters = {{ "query.page_token" = "{page_token}" }}
"""
MAX_EXAMPLES = "30"
TIME_BUDGET_SECONDS = 240


async def test_schemathesis_finds_nothing(system: System, tmp_path: Path) -> None:
    token = await system.login()
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(page_token=await _page_token(system, token)))
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file", str(config),
        "run",
        f"{system.base_url}/openapi.json",
        "--checks", CHECKS,
        "--max-examples", MAX_EXAMPLES,
        "--seed", "20261123",
        "--workers", "1",
        "--generation-database", "none",
        "--request-timeout", "10",
        "--header", f"Authorization: Bearer {token}",
        "--no-color",
        "--report", "junit",
        "--report-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )  # fmt: skip
    try:
        async with asyncio.timeout(TIME_BUDGET_SECONDS):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    # Not a vacuous pass: every documented operation was selected and tested, with real cases.
    selected = re.search(r"Selected: (\d+)/(\d+)", text)
    assert selected and selected.group(1) == selected.group(2), text[-3000:]
    assert f"Tested: {selected.group(1)}" in text, text[-3000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", text)
    assert cases and int(cases.group(1)) >= 100 and cases.group(1) == cases.group(2), text[-3000:]


async def _page_token(system: System, token: str) -> str:
    """A page token of the caller's list, from the Link header of a first page."""
    user_id = (await system.http.get("/api/v1/users/me", headers=bearer(token))).json()["user_id"]
    seed_postcards(system.postcard_db, user_id, 2)
    first = await system.http.get("/api/v1/postcards/me?page_size=1", headers=bearer(token))
    match = re.search(r"page_token=([A-Za-z0-9_-]+)>", first.headers["link"])
    assert match, first.headers
    return match.group(1)
