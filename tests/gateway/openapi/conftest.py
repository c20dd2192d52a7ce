"""Fixtures of the OpenAPI tests: the document of the real contracts and of the test-only one."""
from __future__ import annotations

import importlib
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from grpc_tools import protoc

from contractrules.descriptors import validate_descriptor_set
from gateway.routes.table import Route, import_contracts, load_routes, rpc_catalog

from .support import RULES, RULES_PROTO, SHELF, SHELF_PROTO, document_of


@pytest.fixture(scope="session")
def doc(contract_routes: list[Route]) -> dict[str, Any]:
    return document_of(contract_routes)


def _compiled(tmp_path_factory: pytest.TempPathFactory, package: str, text: str) -> Any:
    """A test-only contract compiled with the include roots scripts/gen uses, imported into the default pool."""
    module = f"{package}.contract_pb2"
    if module not in sys.modules:
        src, out = tmp_path_factory.mktemp("proto"), tmp_path_factory.mktemp("gen")
        folder = src.joinpath(*package.split("."))
        folder.mkdir(parents=True)
        (folder / "contract.proto").write_text(text)
        googleapis = Path(str(resources.files("google.api") / "annotations.proto")).parents[2]
        well_known = Path(str(resources.files("grpc_tools") / "_proto"))
        repo_protos = Path(__file__).resolve().parents[3] / "proto"
        (out / "validate.binpb").write_bytes(validate_descriptor_set())
        includes = [f"-I{src}", f"-I{repo_protos}", f"-I{googleapis}", f"-I{well_known}",
                    f"--descriptor_set_in={out / 'validate.binpb'}"]
        file = "/".join([*package.split("."), "contract.proto"])
        assert protoc.main(["protoc", *includes, f"--python_out={out}", file]) == 0
        sys.path.insert(0, str(out))
        try:
            importlib.invalidate_caches()
            import_contracts([module])
        finally:
            sys.path.remove(str(out))
    return sys.modules[module]


@pytest.fixture(scope="session")
def shelf_pb2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _compiled(tmp_path_factory, "openapitest.v1", SHELF_PROTO)


@pytest.fixture(scope="session")
def rules_pb2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _compiled(tmp_path_factory, "rulestest.v1", RULES_PROTO)


@pytest.fixture(scope="session")
def rules_doc(rules_pb2: Any) -> dict[str, Any]:
    return document_of(load_routes(rpc_catalog([RULES + "RulesService"])))


@pytest.fixture(scope="session")
def shelf_doc(shelf_pb2: Any) -> dict[str, Any]:
    return document_of(load_routes(rpc_catalog([SHELF + "ShelfService"])))
