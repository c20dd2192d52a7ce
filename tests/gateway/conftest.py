from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.routes.table import Route, import_contracts, load_routes, rpc_catalog
from gateway.settings import POSTCARD_SERVICE, USER_SERVICE
from gateway.upstream.rpc import RpcCatalog
from tests.support.contracts import ECHO_MODULE, ECHO_SERVICE
from tests.support.flaky_server import FLAKY_MODULE, FLAKY_SERVICE, FlakyBackend
from tests.support.ticker_server import TICKER_MODULE, TICKER_SERVICE

CONTRACT_MODULES = ["postcardapp.user.v1.user_service_pb2", "postcardapp.postcard.v1.postcard_service_pb2"]


@pytest.fixture(scope="session")
def contract_routes() -> list[Route]:
    import_contracts(CONTRACT_MODULES)
    return load_routes(rpc_catalog([USER_SERVICE, POSTCARD_SERVICE]))


@pytest.fixture(scope="session")
def route_named(contract_routes: list[Route]):  # type: ignore[no-untyped-def]
    def find(method_name: str) -> Route:
        return next(r for r in contract_routes if r.method.name == method_name)

    return find


@pytest.fixture(scope="session")
def echo_routes(test_contracts: Path) -> list[Route]:
    """Routes of the test-only EchoService contract (tests/protos)."""
    import_contracts([ECHO_MODULE])
    return load_routes(rpc_catalog([ECHO_SERVICE]))


@pytest.fixture(scope="session")
def flaky_catalog(test_contracts: Path) -> RpcCatalog:
    """RPC handles of the test-only FlakyService (the resilience tests' contract)."""
    import_contracts([FLAKY_MODULE])
    return rpc_catalog([FLAKY_SERVICE])


@pytest.fixture(scope="session")
def ticker_catalog(test_contracts: Path) -> RpcCatalog:
    """RPC handles of the test-only TickerService (server streaming)."""
    import_contracts([TICKER_MODULE])
    return rpc_catalog([TICKER_SERVICE])


@pytest.fixture
async def backends(flaky_catalog: RpcCatalog) -> AsyncIterator[list[FlakyBackend]]:
    """FlakyService backends "a" and "b", real gRPC servers (modules testing other services define their own)."""
    async with FlakyBackend("a") as a, FlakyBackend("b") as b:
        yield [a, b]
