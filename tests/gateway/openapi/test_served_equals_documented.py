"""What /openapi.json documents is what the gateway serves, before and after a contract changes.

Two versions of one contract, the second with a new query field and a nested message: for each,
a real gateway in front of a real gRPC backend that echoes its request. Every query parameter the
document lists is accepted and lands in the field its name says; a parameter it does not list is
refused; the new fields appear in both at once, with no gateway code change.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_tools import protoc

from gateway.app import create_app
from gateway.settings import AuthSettings, ContractSettings, Settings, UpstreamSettings, UpstreamTlsSettings
from tests.support.http_server import serve
from tests.support.keys import SigningKey

VERSIONS = {
    "v1": "string text = 2; int32 limit = 3;",
    # The backend team adds a flag and a nested filter (with a nested message of its own).
    "v2": "string text = 2; int32 limit = 3; bool exact = 4; Filter filter = 5;",
}
CONTRACT = """
syntax = "proto3";
package evolvetest.{version};
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";
import "postcardapp/gateway/v1/options.proto";

service Catalog {{
  rpc Search(SearchRequest) returns (SearchResponse) {{
    option (google.api.http) = {{get: "/evolve/{version}/shelves/{{shelf}}/search"}};
    option (postcardapp.gateway.v1.policy) = {{access: ACCESS_PUBLIC}};
  }}
}}
message SearchRequest {{ string shelf = 1; {fields} }}
message Filter {{ string tag = 1; google.protobuf.Timestamp since = 2; Window window = 3; }}
message Window {{ repeated int64 ids = 1; }}
message SearchResponse {{ SearchRequest request = 1; }}
"""
# One valid text per schema kind, to fill each documented parameter.
SAMPLES = {"string": "abc", "integer": "7", "boolean": "true", "date-time": "2024-05-01T10:00:00Z", "int64": "-42"}


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Both versions compiled and imported; version -> its module name."""
    src, out = tmp_path_factory.mktemp("evolve-src"), tmp_path_factory.mktemp("evolve-gen")
    googleapis = Path(str(resources.files("google.api") / "annotations.proto")).parents[2]
    well_known = Path(str(resources.files("grpc_tools") / "_proto"))
    repo_protos = Path(__file__).resolve().parents[3] / "proto"
    modules = {}
    for version, fields in VERSIONS.items():
        (src / "evolvetest" / version).mkdir(parents=True)
        (src / "evolvetest" / version / "catalog.proto").write_text(CONTRACT.format(version=version, fields=fields))
        args = ["protoc", f"-I{src}", f"-I{repo_protos}", f"-I{googleapis}", f"-I{well_known}", f"--python_out={out}"]
        assert protoc.main([*args, f"evolvetest/{version}/catalog.proto"]) == 0
        modules[version] = f"evolvetest.{version}.catalog_pb2"
    sys.path.insert(0, str(out))
    importlib.invalidate_caches()
    for module in modules.values():
        importlib.import_module(module)
    return modules


@asynccontextmanager
async def echoing_gateway(version: str, module: str, folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    service = f"evolvetest.{version}.Catalog"
    method = descriptor_pool.Default().FindServiceByName(service).methods_by_name["Search"]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)

    async def echo(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return response_class(request=request)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {
        "Search": grpc.unary_unary_rpc_method_handler(echo, request_class.FromString, response_class.SerializeToString)
    }),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    settings = Settings(
        auth=AuthSettings(jwks_path=SigningKey().write_jwks(folder / f"{version}.json")),
        upstream_tls=UpstreamTlsSettings(insecure_plaintext=True),  # scripted backends
        contracts=ContractSettings(modules=[module]),
        upstreams={service: UpstreamSettings(endpoints=[f"127.0.0.1:{port}"])},
    )
    try:
        async with serve(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
            yield client
    finally:
        await server.stop(0)


def sample(schema: dict[str, Any]) -> str:
    if schema.get("type") == "array":
        return sample(schema["items"])
    if "pattern" in schema and schema.get("type") == "string" and "decimal" in schema.get("description", ""):
        return SAMPLES["int64"]
    return SAMPLES.get(schema.get("format", ""), SAMPLES[schema["type"]])


def field(document: dict[str, Any], dotted: str) -> Any:
    for name in dotted.split("."):
        document = document[name]
    return document


async def documented_and_served(client: httpx.AsyncClient, version: str) -> set[str]:
    path = f"/evolve/{version}/shelves/{{shelf}}/search"
    operation = (await client.get("/openapi.json")).json()["paths"][path]["get"]
    query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    url = path.replace("{shelf}", "s1")
    for name, schema in query.items():
        response = await client.get(url, params={name: sample(schema)})
        assert response.status_code == 200, (name, response.text)
        assert field(response.json()["request"], name) not in (None, "", [], {}), name  # it reached its field
    refused = await client.get(url, params={"not_in_the_contract": "1"})
    assert refused.status_code == 400
    return set(query)


async def test_a_contract_change_shows_in_the_document_and_the_route_together(
    contracts: dict[str, str], tmp_path: Path
) -> None:
    documented = {}
    for version, module in contracts.items():
        async with echoing_gateway(version, module, tmp_path) as client:
            documented[version] = await documented_and_served(client, version)
    assert documented["v1"] == {"text", "limit"}
    assert documented["v2"] - documented["v1"] == {"exact", "filter.tag", "filter.since", "filter.window.ids"}
