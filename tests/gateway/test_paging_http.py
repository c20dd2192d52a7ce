"""Paged lists over HTTP from any contract: the `pagination` option makes a Link header, no route code.

The test-only FlakyService declares pagination on Mine (its own field names: `size`, `after`,
`next`); its backend pages by offset. The gateway links each page to the next from the response's
token alone. Also here: what the gateway checks of a contract's `pagination` at start-up, and the
same contract's rules refused before the call.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.routes.table import RouteTableError
from gateway.settings import (
    AuthSettings,
    ContractSettings,
    HealthCheckSettings,
    RateLimitSettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from gateway.transcode.paging import next_page_of
from gateway.upstream.rpc import Pagination
from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from tests.support.flaky_server import FLAKY_MODULE, FLAKY_SERVICE, FlakyBackend
from tests.support.http_errors import assert_error
from tests.support.http_server import serve
from tests.support.keys import SigningKey
from tests.support.violations import http_violations

NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


@pytest.fixture
async def backend(flaky_catalog: object) -> AsyncIterator[FlakyBackend]:
    async with FlakyBackend("a") as started:
        started.items = [f"item-{i}" for i in range(11)]
        yield started


@pytest.fixture
async def client(backend: FlakyBackend, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    key = SigningKey()
    settings = Settings(
        auth=AuthSettings(jwks_path=key.write_jwks(tmp_path / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        contracts=ContractSettings(modules=[FLAKY_MODULE]),
        upstreams={FLAKY_SERVICE: UpstreamSettings(
            endpoints=[backend.target], health=HealthCheckSettings(reconnect_initial_seconds=0.05)
        )},
        rate_limit=RateLimitSettings(default="1000/second", routes={}),
    )
    headers = {"authorization": f"Bearer {key.token(sub='alice')}"}
    async with serve(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url, headers=headers) as http:
        yield http


async def test_pages_are_linked_until_the_last(client: httpx.AsyncClient) -> None:
    url, seen, links = "/test/v1/flaky/mine?size=4", [], []
    while url:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        seen += response.json()  # the body stays the bare list
        link = response.headers.get("link")
        links.append(link)
        url = NEXT.match(link).group(1) if link else ""

    assert seen == [f"item-{i}" for i in range(11)]
    assert links == ['</test/v1/flaky/mine?size=4&after=4>; rel="next"',
                     '</test/v1/flaky/mine?size=4&after=8>; rel="next"', None]


async def test_a_list_that_fits_one_page_has_no_link(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/flaky/mine")
    assert len(response.json()) == 11 and "link" not in response.headers


async def test_the_link_is_documented(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/test/v1/flaky/mine"]["get"]
    assert "Link" in operation["responses"]["200"]["headers"]
    size = next(p for p in operation["parameters"] if p["name"] == "size")
    assert size["schema"]["default"] == 50 and "at most 50" in size["description"]


async def test_a_test_contracts_rule_is_refused_before_the_call(
    client: httpx.AsyncClient, backend: FlakyBackend
) -> None:
    response = await client.get("/test/v1/flaky/" + "k" * 21)
    error = assert_error(response, 400, "INVALID_ARGUMENT")
    assert http_violations({"error": error}) == [("key", "string.max_len")]
    assert backend.calls["Read"] == 0


GOOD = Pagination("next_page_token", "page_token", "page_size", 100, 100)


@pytest.mark.parametrize(
    ("pagination", "query", "problem"),
    [
        (Pagination("postcards", "page_token", "", 0, 0), {"page_token"}, "'postcards', not a string field"),
        (Pagination("nope", "page_token", "", 0, 0), {"page_token"}, "'nope', not a string field"),
        (Pagination("next_page_token", "page_size", "", 0, 0), {"page_size"}, "'page_size', not a string query"),
        (GOOD, {"page_size"}, "'page_token', not a string query parameter"),  # e.g. bound by the path
        (Pagination("next_page_token", "page_token", "page_token", 1, 1), {"page_token"}, "not an integer query"),
        (Pagination("next_page_token", "page_token", "page_size", 0, 100), {"page_token", "page_size"},
         "0 < default_page_size <= max_page_size"),
        (Pagination("next_page_token", "page_token", "page_size", 101, 100), {"page_token", "page_size"},
         "0 < default_page_size <= max_page_size"),
    ],
)  # fmt: skip
def test_a_pagination_that_cannot_work_stops_start_up(pagination: Pagination, query: set[str], problem: str) -> None:
    request, response = pb.ListMyPostcardsRequest.DESCRIPTOR, pb.ListMyPostcardsResponse.DESCRIPTOR
    with pytest.raises(RouteTableError, match=re.escape(problem)):
        next_page_of("List", pagination, request, response, query)
    assert next_page_of("List", GOOD, request, response, {"page_token", "page_size"}) is not None
