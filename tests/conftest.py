from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.contracts import compile_test_contracts
from tests.support.pki import make_pki
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def test_contracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test-only contracts of tests/protos, compiled and importable here; the folder (for PYTHONPATH)."""
    folder = tmp_path_factory.mktemp("contracts")
    compile_test_contracts(folder)
    return folder


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway internal CA and certificates for gateway, user-service, postcard-service and developer."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of the test's own (tests.support.redis_server), stopped after it."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
