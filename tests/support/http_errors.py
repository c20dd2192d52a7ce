"""The common error shape as a client sees it, checked in one place."""
from __future__ import annotations

from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, grpc_status: str) -> dict[str, Any]:
    """`response` is `status` in the error shape with `grpc_status`, never stored by a cache; its "error" object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body["error"]) == {"code", "status", "message", "details"}
    assert (body["error"]["code"], body["error"]["status"]) == (status, grpc_status)
    return body["error"]
