"""/docs (Swagger UI) and /redoc (ReDoc) served with no network: the gateway serves their assets.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN and ReDoc's fonts from Google
Fonts, so in a private network they stay blank. The assets here come from the `fastapi-offline`
package (PyPI, maintained; 1.7.7 ships Swagger UI 5.32 and ReDoc 2.5): a Python dependency, so
every install and image of the gateway carries them, with no Node.js, no vendoring script and no
copied bundle in this repository. Only its files are used, not its app factory.

No page refers to another host: ReDoc runs without Google Fonts (the browser's sans-serif
instead), Swagger UI without its online validator badge (which would send the document's URL to
swagger.io), and the favicon is served here too. ReDoc's bundle still shows a "by Redocly" logo
from cdn.redoc.ly in its menu, with no option to turn it off; the pages' Content-Security-Policy
keeps the browser to this origin, so that image is blocked before any request leaves.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs-assets"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
# This origin only. Inline scripts and styles: the page's own start-up script, and the styles both
# UIs inject; blob: workers and data: images: what ReDoc builds in the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'"
)


def assets_dir() -> Path:
    """The folder of the Swagger UI and ReDoc files inside the installed fastapi-offline package."""
    return Path(str(resources.files(fastapi_offline) / "static"))


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets (under /docs-assets/) to `app`.

    `app` must be created with `docs_url=None, redoc_url=None`, so FastAPI's CDN pages are not
    there too. The pages honour a `root_path` (a gateway behind a path prefix). Raises
    RuntimeError at start-up if an asset is missing from the installed package.
    """
    directory = assets_dir()
    missing = [name for name in ASSETS if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline is installed without {', '.join(missing)} in {directory}")
    app.mount(ASSETS_URL, StaticFiles(directory=directory), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    def swagger_ui(root: str) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    def redoc(root: str) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    for path, render in ((DOCS_URL, swagger_ui), (REDOC_URL, redoc)):
        app.add_api_route(path, _page(render), methods=["GET"], include_in_schema=False)


def _page(render: Callable[[str], HTMLResponse]) -> Callable[[Request], Awaitable[HTMLResponse]]:
    """An endpoint answering `render(root_path)` with the same-origin policy."""

    async def endpoint(request: Request) -> HTMLResponse:
        page = render(request.scope.get("root_path", ""))
        page.headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        return page

    return endpoint
