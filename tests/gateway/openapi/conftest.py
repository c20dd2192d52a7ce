"""Fixtures of the OpenAPI tests: the document of the real contracts and of the test-only one."""
from __future__ import annotations

import importlib
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from grpc_tools import protoc

from gateway.routes.table import Route, import_contracts, load_routes, rpc_catalog

from .support import SHELF, SHELF_PROTO, document_of


@pytest.fixture(scope="session")
def doc(contract_routes: list[Route]) -> dict[str, Any]:
    return document_of(contract_routes)


@pytest.fixture(scope="session")
def shelf_pb2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The test-only contract, compiled with the include roots scripts/gen uses and imported into the default pool."""
    if "openapitest.v1.shelf_pb2" not in sys.modules:
        src, out = tmp_path_factory.mktemp("proto"), tmp_path_factory.mktemp("gen")
        (src / "openapitest" / "v1").mkdir(parents=True)
        (src / "openapitest" / "v1" / "shelf.proto").write_text(SHELF_PROTO)
        googleapis = Path(str(resources.files("google.api") / "annotations.proto")).parents[2]
        well_known = Path(str(resources.files("grpc_tools") / "_proto"))
        repo_protos = Path(__file__).resolve().parents[3] / "proto"
        includes = [f"-I{src}", f"-I{repo_protos}", f"-I{googleapis}", f"-I{well_known}"]
        assert protoc.main(["protoc", *includes, f"--python_out={out}", "openapitest/v1/shelf.proto"]) == 0
        sys.path.insert(0, str(out))
        try:
            importlib.invalidate_caches()
            import_contracts(["openapitest.v1.shelf_pb2"])
        finally:
            sys.path.remove(str(out))
    return sys.modules["openapitest.v1.shelf_pb2"]


@pytest.fixture(scope="session")
def shelf_doc(shelf_pb2: Any) -> dict[str, Any]:
    return document_of(load_routes(rpc_catalog([SHELF + "ShelfService"])))
