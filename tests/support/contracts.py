"""Compile test-only .proto files the way scripts/gen compiles ours, into a temporary folder.

`buf/validate/validate.proto` comes from the installed protovalidate, as for scripts/gen; its
module is not generated here: the one in generated/ is imported (one registration of the file).
"""
from __future__ import annotations

import importlib
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

from contractrules.descriptors import validate_descriptor_set

REPO = Path(__file__).resolve().parents[2]
TEST_PROTOS = REPO / "tests" / "protos"


def compile_test_contracts(out: Path) -> None:
    """Generate *_pb2 modules for tests/protos into `out` and make them importable."""
    googleapis = Path(str(resources.files("google.api") / "annotations.proto")).parents[2]
    well_known = Path(str(resources.files("grpc_tools") / "_proto"))
    files = [str(p.relative_to(TEST_PROTOS)) for p in TEST_PROTOS.rglob("*.proto")]
    descriptor_set = out / "validate.binpb"
    descriptor_set.write_bytes(validate_descriptor_set())
    args = ["protoc", f"-I{TEST_PROTOS}", f"-I{REPO / 'proto'}", f"-I{googleapis}", f"-I{well_known}",
            f"--descriptor_set_in={descriptor_set}"]
    if protoc.main([*args, f"--python_out={out}", *files]) != 0:
        raise RuntimeError("protoc failed on tests/protos")
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))  # test-only: the compiled test contract lives outside the package
    importlib.invalidate_caches()


ECHO_MODULE = "postcardtest.echo.v1.echo_pb2"
ECHO_SERVICE = "postcardtest.echo.v1.EchoService"
