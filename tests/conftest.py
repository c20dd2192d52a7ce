from pathlib import Path

import pytest

from tests.support.contracts import compile_test_contracts


@pytest.fixture(scope="session")
def test_contracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test-only contracts of tests/protos, compiled and importable here; the folder (for PYTHONPATH)."""
    folder = tmp_path_factory.mktemp("contracts")
    compile_test_contracts(folder)
    return folder
