"""Through the whole system: headers forwarded to the services that add up past their budget are a 431, on every
route that calls a service, in the error shape and with nothing created; gRPC's own text never shows."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import VALID_POSTCARD, System, bearer
from tests.support.http_errors import assert_error

pytestmark = pytest.mark.asyncio(loop_scope="package")

ROUTES = [
    ("POST", "/api/v1/users/login", {"code": "wx-code"}),
    ("GET", "/api/v1/users/me", None),
    ("POST", "/api/v1/postcards/create", VALID_POSTCARD),
    ("GET", "/api/v1/postcards/status/t1", None),
    ("GET", "/api/v1/postcards/me", None),
    ("GET", "/api/v1/postcards/p1", None),
    ("GET", "/api/v1/postcards/p1/image", None),
    ("GET", "/api/v1/home", None),
]
# Each header within its own limit; together about 7 kB, past the 6 KiB budget.
OVERSIZED = [("tracestate", f"k{i}=" + "v" * 490) for i in range(12)] + [("idempotency-key", "k" * 200)]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_oversized_forwarded_headers_are_431(system: System, method: str, path: str, body: object) -> None:
    token = await system.login()
    tasks_before = system.count_rows("tasks")

    response = await system.http.request(
        method, path, json=body, headers=[*bearer(token).items(), *OVERSIZED]
    )

    error = assert_error(response, 431, "OUT_OF_RANGE")
    assert error["message"].startswith("the headers forwarded to the service")
    assert system.count_rows("tasks") == tasks_before
