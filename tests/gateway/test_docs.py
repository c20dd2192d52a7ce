"""/docs and /redoc work with no network: every asset comes from the gateway itself.

A real gateway (uvicorn on 127.0.0.1, our two contracts) serves the pages; the test reads what
each page references and fetches it from the gateway. When Debian's chromium is installed, it
renders both pages with every host name but 127.0.0.1 unresolvable. Without chromium that test
is skipped with its reason shown, except where REQUIRE_BROWSER_TESTS is set (.ci/run sets it and
installs chromium): there it fails.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import (
    POSTCARD_SERVICE,
    USER_SERVICE,
    AuthSettings,
    Settings,
    UpstreamSettings,
    UpstreamTlsSettings,
)
from tests.support.http_server import serve
from tests.support.keys import SigningKey

PAGES = ["/docs", "/redoc"]


class References(HTMLParser):
    """Every URL a page makes the browser load: src, href, and ReDoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]


def references(page: str) -> list[str]:
    parser = References()
    parser.feed(page)
    # Swagger UI is told where the document is in its start-up script: `url: '/openapi.json'`.
    return parser.urls + re.findall(r"\burl: '([^']+)'", page)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        auth=AuthSettings(jwks_path=SigningKey().write_jwks(tmp_path / "jwks.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        upstreams={  # never called: the docs need only the contracts
            USER_SERVICE: UpstreamSettings(endpoints=["127.0.0.1:1"]),
            POSTCARD_SERVICE: UpstreamSettings(endpoints=["127.0.0.1:1"]),
        },
    )
    async with serve(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield http


@pytest.mark.parametrize("path", PAGES)
async def test_the_page_refers_to_no_other_host(gateway: httpx.AsyncClient, path: str) -> None:
    response = await gateway.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http://" not in response.text and "https://" not in response.text
    assert "fonts.googleapis" not in response.text
    urls = references(response.text)
    assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    # The browser is held to this origin too (it blocks ReDoc's built-in logo from cdn.redoc.ly).
    assert "default-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_asset_the_page_uses_comes_from_the_gateway(gateway: httpx.AsyncClient, path: str) -> None:
    page = (await gateway.get(path)).text

    for url in references(page):
        asset = await gateway.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
        if url.endswith(".css"):
            # Stylesheets load what their url(...) name; here only inline data.
            assert all(ref.strip("'\"").startswith("data:") for ref in re.findall(r"url\(([^)]*)\)", asset.text))


async def test_the_pages_render_in_chromium_with_no_network(gateway: httpx.AsyncClient, tmp_path: Path) -> None:
    browser = shutil.which("chromium")
    if browser is None:
        if os.environ.get("REQUIRE_BROWSER_TESTS"):
            pytest.fail("REQUIRE_BROWSER_TESTS is set but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")

    swagger = await rendered(browser, f"{gateway.base_url}/docs", tmp_path / "docs")
    redoc = await rendered(browser, f"{gateway.base_url}/redoc", tmp_path / "redoc")

    # Swagger UI fetched the document and drew every operation; so did ReDoc.
    assert 'data-path="/api/v1/postcards/me"' in swagger and 'data-path="/api/v1/users/login"' in swagger
    assert "Postcard API gateway" in redoc and "/api/v1/postcards/{postcard_id}/image" in redoc
    assert "Something went wrong" not in redoc


async def rendered(browser: str, url: str, profile: Path) -> str:
    """The DOM of `url` after its scripts ran, in headless chromium that can resolve 127.0.0.1 only."""
    process = await asyncio.create_subprocess_exec(
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=20000",  # let the page's scripts run and its fetches finish
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        # Awaited, not run blocking: the gateway answering the browser shares this event loop.
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    return output.decode()
