"""The OpenAPI document of the contract routes: the real contracts, a test-only contract, validity.

The test-only contract (SHELF_PROTO, compiled here) covers what the real ones
do not: every scalar kind, enums, maps, recursion, well-known types, oneofs, a
multi-segment path variable, a field-named body and additional bindings. Where
it matters, the schemas are checked against what `google.protobuf.json_format`
really writes and accepts, since that is the gateway's wire format.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import math
import random
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import hypothesis
import jsonschema_rs
import pytest
import schemathesis
from google.protobuf import json_format
from grpc_tools import protoc

from gateway.routes.openapi import add_contract_routes
from gateway.routes.table import Route, import_contracts, load_routes, rpc_catalog
from gateway.routes.template import parse_template

MAX_BODY = 65536
BASE_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "gateway", "version": "1"},
    "paths": {"/actuator/health": {"get": {"operationId": "health", "responses": {"200": {"description": "Up"}}}}},
}
POSTCARD = "postcardapp.postcard.v1."
USER = "postcardapp.user.v1."

SHELF_PROTO = """
syntax = "proto3";
package openapitest.v1;

import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/api/httpbody.proto";
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "postcardapp/gateway/v1/options.proto";

service ShelfService {
  rpc GetBook(GetBookRequest) returns (Book) {
    option (google.api.http) = {
      get: "/v1/{name=shelves/*/books/*}"
      additional_bindings {get: "/v1/books/{name}"}
    };
    option (postcardapp.gateway.v1.policy) = {access: ACCESS_PUBLIC, timeout: {seconds: 2}};
  }
  rpc UpdateBook(UpdateBookRequest) returns (Book) {
    option (google.api.http) = {patch: "/v1/{book.name=shelves/*/books/*}" body: "book"};
  }
  rpc CreateBook(CreateBookRequest) returns (Book) {
    option (google.api.http) = {post: "/v1/{parent=shelves/*}/books" body: "*"};
  }
  rpc Search(Scalars) returns (Scalars) {
    option (google.api.http) = {get: "/v1/search"};
  }
  rpc Put(Everything) returns (Everything) {
    option (google.api.http) = {post: "/v1/everything" body: "*"};
  }
  rpc Download(GetBookRequest) returns (google.api.HttpBody) {
    option (google.api.http) = {
      get: "/v1/{name=shelves/*/books/*}:download"
      additional_bindings {get: "/v2/{name=files.v2/**}:download"}
    };
  }
  rpc ListBooks(GetBookRequest) returns (Book) {
    option (google.api.http) = {custom: {kind: "LIST" path: "/v1/books"}};
  }
  rpc Unexposed(GetBookRequest) returns (Book);
}

enum Color {
  COLOR_UNSPECIFIED = 0;
  RED = 1;
  GREEN = 2;
}

message Scalars {
  int32 f_int32 = 1;
  int64 f_int64 = 2;
  uint32 f_uint32 = 3;
  uint64 f_uint64 = 4;
  sint32 f_sint32 = 5;
  sint64 f_sint64 = 6;
  fixed32 f_fixed32 = 7;
  fixed64 f_fixed64 = 8;
  sfixed32 f_sfixed32 = 9;
  sfixed64 f_sfixed64 = 10;
  float f_float = 11;
  double f_double = 12;
  bool f_bool = 13;
  string f_string = 14;
  bytes f_bytes = 15;
  Color f_enum = 16;
  repeated string f_tags = 17;
  optional int32 f_optional = 18;
  Nested nested = 19;
  google.protobuf.Timestamp since = 20;
  google.protobuf.Int64Value limit = 21;
  google.protobuf.Struct filter = 22;
  repeated Nested many = 23;
}

message Nested {
  string label = 1;
  Nested child = 2;
  repeated int64 ids = 3;
  map<string, string> attrs = 4;
}

message Tree {
  string value = 1;
  repeated Tree children = 2;
}

message Everything {
  google.protobuf.Timestamp at = 1;
  google.protobuf.Duration ttl = 2;
  google.protobuf.FieldMask mask = 3;
  google.protobuf.Struct meta = 4;
  google.protobuf.Value anything = 5;
  google.protobuf.ListValue list = 6;
  google.protobuf.Empty nothing = 7;
  google.protobuf.Any extra = 8;
  google.protobuf.Int64Value big = 9;
  google.protobuf.DoubleValue ratio = 10;
  google.protobuf.StringValue label = 11;
  google.protobuf.BoolValue flag = 12;
  map<int64, Book> books_by_id = 13;
  map<bool, string> by_flag = 14;
  repeated Tree forest = 15;
  Tree tree = 16;
  oneof choice {
    string text = 17;
    int32 number = 18;
  }
  string secret = 19 [(google.api.field_behavior) = INPUT_ONLY];
  string server_id = 20 [(google.api.field_behavior) = OUTPUT_ONLY];
  string old = 21 [deprecated = true];
  google.protobuf.NullValue null_value = 22;
  repeated Color colors = 23;
}

message Book {
  string name = 1 [(google.api.field_behavior) = REQUIRED];
  string title = 2 [(google.api.field_behavior) = REQUIRED];
  Color color = 3;
  google.protobuf.Timestamp published = 4;
}

message GetBookRequest {
  string name = 1 [(google.api.field_behavior) = REQUIRED];
}

message UpdateBookRequest {
  Book book = 1 [(google.api.field_behavior) = REQUIRED];
  google.protobuf.FieldMask update_mask = 2;
}

message CreateBookRequest {
  string parent = 1 [(google.api.field_behavior) = REQUIRED];
  Book book = 2 [(google.api.field_behavior) = REQUIRED];
  string book_id = 3;
}
"""
SHELF = "openapitest.v1."


# --- fixtures and helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def doc(contract_routes: list[Route]) -> dict[str, Any]:
    return add_contract_routes(BASE_DOCUMENT, contract_routes, max_body_bytes=MAX_BODY)


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def shelf_doc(shelf_pb2: Any) -> dict[str, Any]:
    routes = load_routes(rpc_catalog([SHELF + "ShelfService"]))
    return add_contract_routes(BASE_DOCUMENT, routes, max_body_bytes=MAX_BODY)


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref`s within the document."""
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def component(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_schema_ok(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> bool:
    """Validate an instance as JSON Schema 2020-12 would, `$ref`s resolved against the document's components."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"], **schema}
    return jsonschema_rs.validator_for(root, validate_formats=True).is_valid(instance)


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return doc["paths"][path][method]


def body_schema(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return operation(doc, method, path)["requestBody"]["content"]["application/json"]["schema"]


def success_schema(doc: dict[str, Any], method: str, path: str, status: str = "200") -> dict[str, Any]:
    return operation(doc, method, path)["responses"][status]["content"]["application/json"]["schema"]


def params(op: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op["parameters"] if p["in"] == where}


def all_schemas(node: Any) -> list[dict[str, Any]]:
    """Every JSON schema in the document: components, parameters, bodies and responses."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" or (key == "schemas" and isinstance(value, dict) and "Error" in value):
                found.extend([value] if key == "schema" else value.values())
            else:
                found.extend(all_schemas(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(all_schemas(item))
    return found


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for value in node.values() for r in all_refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in all_refs(item)]
    return []


# --- the real contracts -----------------------------------------------------------------------------------------

REAL_OPERATIONS = [
    ("post", "/api/v1/users/login", USER + "UserService/Login", "200"),
    ("get", "/api/v1/users/me", USER + "UserService/GetMe", "200"),
    ("post", "/api/v1/postcards/create", POSTCARD + "PostcardService/CreatePostcard", "202"),
    ("get", "/api/v1/postcards/status/{task_id}", POSTCARD + "PostcardService/GetTaskStatus", "200"),
    ("get", "/api/v1/postcards/me", POSTCARD + "PostcardService/ListMyPostcards", "200"),
    ("get", "/api/v1/postcards/{postcard_id}", POSTCARD + "PostcardService/GetPostcard", "200"),
    ("get", "/api/v1/postcards/{postcard_id}/image", POSTCARD + "PostcardService/GetPostcardImage", "200"),
]


@pytest.mark.parametrize(("method", "path", "grpc_method", "status"), REAL_OPERATIONS)
def test_every_contract_route_is_an_operation(doc, method, path, grpc_method, status) -> None:
    op = operation(doc, method, path)
    assert op["operationId"] == grpc_method.replace(".", "_").replace("/", "_")
    assert next(iter(op["responses"])) == status
    assert f"`{grpc_method}`" in op["description"]  # findable with grpcurl
    assert op["x-grpc-method"] == f"/{grpc_method}"
    assert op["tags"] == [grpc_method.split("/")[0].rsplit(".", 1)[1]]


def test_only_the_contract_routes_and_the_hand_written_ones_are_documented(doc) -> None:
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert documented == {(m, p) for m, p, _, _ in REAL_OPERATIONS} | {("get", "/actuator/health")}
    assert doc["paths"]["/actuator/health"] == BASE_DOCUMENT["paths"]["/actuator/health"]
    assert {t["name"] for t in doc["tags"]} == {"UserService", "PostcardService"}


def test_summaries_come_from_method_names(doc) -> None:
    assert operation(doc, "get", "/api/v1/postcards/me")["summary"] == "List my postcards"
    assert operation(doc, "get", "/api/v1/postcards/{postcard_id}/image")["summary"] == "Get postcard image"


def test_my_postcards_is_a_bare_array_of_summaries(doc) -> None:
    schema = success_schema(doc, "get", "/api/v1/postcards/me")
    assert schema == {"type": "array", "items": ref(POSTCARD + "PostcardSummary")}


def test_get_postcard_answers_the_postcard_field(doc) -> None:
    assert success_schema(doc, "get", "/api/v1/postcards/{postcard_id}") == ref(POSTCARD + "Postcard")


def test_create_answers_202_with_the_task_id(doc) -> None:
    responses = operation(doc, "post", "/api/v1/postcards/create")["responses"]
    assert "200" not in responses
    schema = resolve(doc, responses["202"]["content"]["application/json"]["schema"])
    assert schema["properties"] == {"task_id": {"type": "string"}}


def test_login_is_public_and_everything_else_needs_a_bearer_token(doc) -> None:
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The token from login.",
    }
    for method, path, _, _ in REAL_OPERATIONS:
        op = operation(doc, method, path)
        public = path == "/api/v1/users/login"
        assert op["security"] == ([] if public else [{"bearerAuth": []}])
        assert ("401" in op["responses"]) is not public


def test_the_postcard_image_is_raw_bytes(doc) -> None:
    ok = operation(doc, "get", "/api/v1/postcards/{postcard_id}/image")["responses"]["200"]
    assert ok["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    assert POSTCARD + "GetPostcardImageRequest" not in doc["components"]["schemas"]  # path only, no body
    assert "google.api.HttpBody" not in doc["components"]["schemas"]


def test_login_request_requires_the_code_and_nothing_else(doc) -> None:
    schema = resolve(doc, body_schema(doc, "post", "/api/v1/users/login"))
    assert schema["required"] == ["code"]
    assert schema["additionalProperties"] is False
    assert schema["properties"] == {"code": {"type": "string"}}
    body = operation(doc, "post", "/api/v1/users/login")["requestBody"]
    assert body["required"] is True and str(MAX_BODY) in body["description"]
    assert list(body["content"]) == ["application/json"]


def test_create_request_requires_mood_style_and_theme(doc) -> None:
    schema = resolve(doc, body_schema(doc, "post", "/api/v1/postcards/create"))
    assert schema["required"] == ["mood", "style", "theme"]
    assert set(schema["properties"]) == {"mood", "style", "theme", "recipient", "message"}
    assert json_schema_ok(doc, schema, {"mood": "happy", "style": "ink", "theme": "sea"})
    assert not json_schema_ok(doc, schema, {"mood": "happy", "style": "ink", "theme": "sea", "user_id": "u1"})
    assert not json_schema_ok(doc, schema, {"mood": "happy"})


def test_login_response_fields(doc) -> None:
    schema = resolve(doc, success_schema(doc, "post", "/api/v1/users/login"))
    assert schema["properties"] == {"token": {"type": "string"}, "is_new_user": {"type": "boolean"}}
    # Unpopulated fields are omitted and a newer backend may add some: nothing required, nothing forbidden.
    assert "required" not in schema and "additionalProperties" not in schema


def test_no_response_schema_requires_or_forbids_a_field(doc) -> None:
    for name, schema in doc["components"]["schemas"].items():
        if name.startswith(("postcardapp.",)) and not name.endswith("-Input"):
            assert "required" not in schema and "additionalProperties" not in schema, name


def test_timestamps_are_date_time_strings(doc) -> None:
    for name in (POSTCARD + "Postcard", POSTCARD + "PostcardSummary", USER + "GetMeResponse"):
        created_at = component(doc, name)["properties"]["created_at"]
        assert created_at["type"] == "string" and created_at["format"] == "date-time"


@pytest.mark.parametrize(
    ("path", "name"),
    [("/api/v1/postcards/status/{task_id}", "task_id"), ("/api/v1/postcards/{postcard_id}", "postcard_id"),
     ("/api/v1/postcards/{postcard_id}/image", "postcard_id")],
)
def test_path_parameters_are_typed_and_required(doc, path, name) -> None:
    op = operation(doc, "get", path)
    assert params(op, "path") == {name: {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}}
    assert params(op, "query") == {}  # the request has no other field


def test_errors_share_one_schema(doc) -> None:
    error = component(doc, "Error")
    inner = error["properties"]["error"]
    assert error["required"] == ["error"]
    assert inner["required"] == ["code", "status", "message", "details"]
    assert {k: v["type"] for k, v in inner["properties"].items()} == {
        "code": "integer", "status": "string", "message": "string", "details": "array",
    }
    for response in doc["components"]["responses"].values():
        assert response["content"] == {"application/json": {"schema": ref("Error")}}
    assert json_schema_ok(doc, ref("Error"), {"error": {"code": 404, "status": "NOT_FOUND", "message": "x",
                                                        "details": []}})
    too_many = doc["components"]["responses"]["TooManyRequests"]
    assert set(too_many["headers"]) == {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    assert "Retry-After" in doc["components"]["responses"]["ServiceUnavailable"]["headers"]


@pytest.mark.parametrize(("method", "path", "grpc_method", "status"), REAL_OPERATIONS)
def test_the_fallback_header_is_documented_where_the_contract_declares_a_fallback(
    doc, method, path, grpc_method, status
) -> None:
    headers = operation(doc, method, path)["responses"][status].get("headers", {})
    if grpc_method.endswith("ListMyPostcards"):
        assert headers["X-Fallback"]["schema"]["enum"] == ["cache", "empty"]
    else:
        assert "X-Fallback" not in headers


@pytest.mark.parametrize(("method", "path", "grpc_method", "status"), REAL_OPERATIONS)
def test_every_operation_documents_its_errors(doc, method, path, grpc_method, status) -> None:
    op = operation(doc, method, path)
    expected = {"400", "404", "429", "500", "503", "504", "default"}
    expected |= set() if path == "/api/v1/users/login" else {"401"}
    expected |= {"413", "415"} if "requestBody" in op else set()
    assert set(op["responses"]) == expected | {status}
    for code in expected:
        assert resolve(doc, op["responses"][code])["content"]["application/json"]["schema"] == ref("Error")


def test_real_json_matches_the_response_schemas(doc) -> None:
    from postcardapp.postcard.v1 import postcard_service_pb2 as pb
    from postcardapp.user.v1 import user_service_pb2 as user_pb

    postcard = pb.Postcard(postcard_id="p1", task_id="t1", frontend_code="<svg/>", image_url="/i", mood="m")
    postcard.created_at.FromSeconds(1_700_000_000)
    samples = [
        ("get", "/api/v1/postcards/status/{task_id}", pb.GetTaskStatusResponse(status="completed", data=postcard)),
        ("get", "/api/v1/postcards/status/{task_id}", pb.GetTaskStatusResponse(status="failed", error="boom")),
        ("post", "/api/v1/users/login", user_pb.LoginResponse(token="t", is_new_user=False)),
    ]
    for method, path, message in samples:
        data = json_format.MessageToDict(message, preserving_proto_field_name=True)
        assert json_schema_ok(doc, success_schema(doc, method, path), data), data
    as_list = [json_format.MessageToDict(pb.PostcardSummary(postcard_id="p1"), preserving_proto_field_name=True)]
    assert json_schema_ok(doc, success_schema(doc, "get", "/api/v1/postcards/me"), as_list)
    assert not json_schema_ok(doc, success_schema(doc, "get", "/api/v1/postcards/me"), {"postcards": as_list})


def test_the_input_document_is_left_alone_and_collisions_fail(contract_routes, doc) -> None:
    before = copy.deepcopy(BASE_DOCUMENT)
    again = add_contract_routes(BASE_DOCUMENT, contract_routes, max_body_bytes=MAX_BODY)
    assert BASE_DOCUMENT == before
    assert again == doc  # a pure function of its inputs
    taken = copy.deepcopy(BASE_DOCUMENT)
    taken["paths"]["/api/v1/users/me"] = {"get": {"responses": {"200": {"description": "mine"}}}}
    with pytest.raises(ValueError, match="GET /api/v1/users/me"):
        add_contract_routes(taken, contract_routes, max_body_bytes=MAX_BODY)
    clash = copy.deepcopy(BASE_DOCUMENT)
    clash["components"] = {"schemas": {"Error": {"type": "string"}}}
    with pytest.raises(ValueError, match=r"schemas\.Error"):
        add_contract_routes(clash, contract_routes, max_body_bytes=MAX_BODY)


# --- the test-only contract: the type mapping -------------------------------------------------------------------

INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
UINT32 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
INT64 = {"type": "string", "pattern": "<int64>", "description": "64-bit integer as a decimal string."}
UINT64 = {"type": "string", "pattern": "<uint64>", "description": "Unsigned 64-bit integer as a decimal string."}
NON_FINITE = {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}
FLOAT_MAX = 3.4028234663852886e38
FLOAT = {"oneOf": [{"type": "number", "format": "float", "minimum": -FLOAT_MAX, "maximum": FLOAT_MAX}, NON_FINITE]}
DOUBLE = {"oneOf": [{"type": "number", "format": "double"}, NON_FINITE]}
BYTES = {"type": "string", "format": "byte", "contentEncoding": "base64"}
DATE_TIME = {"type": "string", "format": "date-time", "description": "RFC 3339 timestamp."}

SCALAR_MAPPING = [
    ("f_int32", INT32), ("f_sint32", INT32), ("f_sfixed32", INT32), ("f_uint32", UINT32), ("f_fixed32", UINT32),
    ("f_int64", INT64), ("f_sint64", INT64), ("f_sfixed64", INT64), ("f_uint64", UINT64), ("f_fixed64", UINT64),
    ("f_float", FLOAT), ("f_double", DOUBLE), ("f_bool", {"type": "boolean"}), ("f_string", {"type": "string"}),
    ("f_bytes", BYTES), ("f_enum", ref(SHELF + "Color")), ("f_tags", {"type": "array", "items": {"type": "string"}}),
    ("f_optional", INT32), ("nested", ref(SHELF + "Nested")), ("since", DATE_TIME),
    ("limit", {**INT64, "type": ["string", "null"]}), ("filter", {"type": "object"}),
    ("many", {"type": "array", "items": ref(SHELF + "Nested")}),
]




# What each pattern of the document must accept and reject, to check it once and then name it in the tables.
PATTERNS: dict[str, tuple[list[str], list[str]]] = {
    "<int64>": (["0", "-1", "9223372036854775807", "-9223372036854775808", "1000000000000000000"],
                ["9223372036854775808", "-9223372036854775809", "18446744073709551615", "-0", "007", "+1", "1.0",
                 "1e3", " 1", ""]),
    "<uint64>": (["0", "1", "18446744073709551615", "10000000000000000000"],
                 ["18446744073709551616", "99999999999999999999", "-1", "-0", "007", "+1", "1.0", ""]),
    "<duration>": (["0s", "1.5s", "-0.000000001s", "315576000000s", "-315576000000.999999999s", "-0.500s"],
                   ["1.5", "315576000001s", "1.1234567891s", "s", "1,5s", "+1s", "1.s", "007s"]),
    "<field mask>": (["", "title", "book.title,updateMask", "fInt32"],
                     ["update_mask", "a,,b", ",a", "a.", "1a", "a b"]),
}


def patterns(node: Any) -> Any:
    """The schema with each pattern checked against PATTERNS and replaced by its name there."""
    if isinstance(node, list):
        return [patterns(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: patterns(value) for key, value in node.items()}
    if "pattern" in node:
        regex = re.compile(node["pattern"])
        names = [name for name, (good, bad) in PATTERNS.items()
                 if all(regex.fullmatch(t) for t in good) and not any(regex.fullmatch(t) for t in bad)]
        assert len(names) == 1, (node["pattern"], names)
        result["pattern"] = names[0]
        if names[0] in ("<int64>", "<uint64>"):
            low, high = (0, 2**64 - 1) if names[0] == "<uint64>" else (-(2**63), 2**63 - 1)
            samples = [low - 1, high + 1, *range(-12, 12), *(random.Random(n).randint(-(2**65), 2**65)
                                                            for n in range(300))]
            samples += [sign * 10**k + d for k in range(17, 21) for sign in (1, -1) for d in (-1, 0, 1)]
            for n in samples:
                assert bool(regex.fullmatch(str(n))) is (low <= n <= high), (names[0], n)
    return result


@pytest.mark.parametrize(("field", "expected"), SCALAR_MAPPING)
def test_scalar_mapping(shelf_doc, field, expected) -> None:
    assert patterns(component(shelf_doc, SHELF + "Scalars")["properties"][field]) == expected


WELL_KNOWN_MAPPING = [
    ("at", DATE_TIME),
    ("ttl", {"type": "string", "pattern": "<duration>",
             "description": "Seconds with up to 9 decimals and an `s` suffix, e.g. `1.5s`."}),
    ("mask", {"type": "string", "pattern": "<field mask>",
              "description": "Comma-separated field paths in lowerCamelCase."}),
    ("meta", {"type": "object"}),
    ("anything", {"description": "Any JSON value."}),
    ("list", {"type": "array"}),
    ("nothing", {"type": "object"}),
    ("extra", {"type": "object", "properties": {"@type": {"type": "string", "format": "uri-reference"}},
               "description": "`@type` names a message type the gateway knows; its fields sit beside it."}),
    ("big", {**INT64, "type": ["string", "null"]}),
    ("ratio", {"oneOf": [*DOUBLE["oneOf"], {"type": "null"}]}),
    ("label", {"type": ["string", "null"]}),
    ("flag", {"type": ["boolean", "null"]}),
    ("books_by_id", {"type": "object", "additionalProperties": ref(SHELF + "Book"),
                     "propertyNames": {"pattern": "<int64>"}}),
    ("by_flag", {"type": "object", "additionalProperties": {"type": "string"},
                 "propertyNames": {"enum": ["true", "false"]}}),
    ("forest", {"type": "array", "items": ref(SHELF + "Tree")}),
    ("tree", ref(SHELF + "Tree")),
    ("secret", {"type": "string", "writeOnly": True}),
    ("server_id", {"type": "string", "readOnly": True}),
    ("old", {"type": "string", "deprecated": True}),
    ("null_value", {"type": "null"}),
    ("colors", {"type": "array", "items": ref(SHELF + "Color")}),
]


@pytest.mark.parametrize(("field", "expected"), WELL_KNOWN_MAPPING)
def test_well_known_and_composite_mapping(shelf_doc, field, expected) -> None:
    assert patterns(component(shelf_doc, SHELF + "Everything")["properties"][field]) == expected


def test_enums_are_shared_components_of_value_names(shelf_doc) -> None:
    color = component(shelf_doc, SHELF + "Color")
    assert color["type"] == "string" and color["enum"] == ["COLOR_UNSPECIFIED", "RED", "GREEN"]


def test_recursive_messages_refer_to_themselves(shelf_doc) -> None:
    assert component(shelf_doc, SHELF + "Tree")["properties"]["children"]["items"] == ref(SHELF + "Tree")
    assert component(shelf_doc, SHELF + "Tree-Input")["properties"]["children"]["items"] == ref(SHELF + "Tree-Input")
    assert component(shelf_doc, SHELF + "Nested")["properties"]["child"] == ref(SHELF + "Nested")


def test_request_variant_is_strict(shelf_doc) -> None:
    schema = resolve(shelf_doc, body_schema(shelf_doc, "post", "/v1/everything"))
    assert schema == component(shelf_doc, SHELF + "Everything-Input")
    assert schema["additionalProperties"] is False
    assert schema["not"] == {"anyOf": [{"required": ["text", "number"]}]}  # at most one member of a oneof
    assert "at most one of `text`, `number`" in schema["properties"]["text"]["description"]
    assert schema["properties"]["nothing"] == {"type": "object", "additionalProperties": False}
    assert schema["properties"]["extra"]["required"] == ["@type"]
    assert schema["properties"]["forest"]["items"] == ref(SHELF + "Tree-Input")
    assert schema["properties"]["books_by_id"]["additionalProperties"] == ref(SHELF + "Book-Input")
    assert component(shelf_doc, SHELF + "Book-Input")["required"] == ["name", "title"]
    assert "not" not in component(shelf_doc, SHELF + "Scalars")  # a proto3 `optional` is no oneof to limit


def test_multi_segment_path_variable_and_additional_binding(shelf_doc) -> None:
    main = operation(shelf_doc, "get", "/v1/{name}")
    extra = operation(shelf_doc, "get", "/v1/books/{name}")
    assert main["operationId"] == "openapitest_v1_ShelfService_GetBook"
    assert extra["operationId"] == "openapitest_v1_ShelfService_GetBook_1"
    name = params(main, "path")["name"]
    assert name["required"] is True
    assert name["schema"] == {"type": "string", "pattern": "^shelves/[^/]+/books/[^/]+$"}
    assert "shelves/*/books/*" in name["description"]
    assert params(extra, "path")["name"]["schema"] == {"type": "string"}
    assert main["security"] == [] and "Deadline: 2 s." in main["description"]


def test_field_body_with_a_nested_path_variable(shelf_doc) -> None:
    op = operation(shelf_doc, "patch", "/v1/{book.name}")
    assert params(op, "path")["book.name"]["schema"]["pattern"] == "^shelves/[^/]+/books/[^/]+$"
    # The path carries book.name: the body is the rest of the book, the query the rest of the request.
    body = body_schema(shelf_doc, "patch", "/v1/{book.name}")
    assert set(body["properties"]) == {"title", "color", "published"}
    assert body["required"] == ["title"] and body["additionalProperties"] is False
    assert patterns(params(op, "query")) == {"update_mask": {
        "name": "update_mask", "in": "query", "required": False,
        "schema": {"type": "string", "pattern": "<field mask>",
                   "description": "Comma-separated field paths in lowerCamelCase."},
    }}
    assert component(shelf_doc, SHELF + "Book")["properties"]["name"] == {"type": "string"}  # the component is whole


def test_whole_body_leaves_out_path_fields_and_has_no_query(shelf_doc) -> None:
    op = operation(shelf_doc, "post", "/v1/{parent}/books")
    body = body_schema(shelf_doc, "post", "/v1/{parent}/books")
    assert set(body["properties"]) == {"book", "book_id"} and body["required"] == ["book"]
    assert params(op, "query") == {}
    assert params(op, "path")["parent"]["schema"]["pattern"] == "^shelves/[^/]+$"


def test_query_parameters_are_the_scalar_leaves(shelf_doc) -> None:
    query = params(operation(shelf_doc, "get", "/v1/search"), "query")
    scalars = {name for name, _ in SCALAR_MAPPING} - {"nested", "filter", "many"}
    # Nested messages by dotted name, three parts at most; maps, Struct and repeated messages cannot be strings.
    assert set(query) == scalars | {"nested.label", "nested.ids", "nested.child.label", "nested.child.ids"}
    assert all(p["required"] is False for p in query.values())
    assert query["f_tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert query["f_tags"]["style"] == "form" and query["f_tags"]["explode"] is True
    assert patterns(query["nested.ids"]["schema"]) == {"type": "array", "items": INT64}
    assert patterns(query["f_int64"]["schema"]) == INT64 and "explode" not in query["f_int64"]
    assert query["f_enum"]["schema"] == ref(SHELF + "Color")
    assert patterns(query["limit"]["schema"]) == INT64  # a wrapper in a query is its plain scalar
    assert query["since"]["schema"] == DATE_TIME
    assert "requestBody" not in operation(shelf_doc, "get", "/v1/search")


def test_http_body_output_is_binary(shelf_doc) -> None:
    ok = operation(shelf_doc, "get", "/v1/{name}:download")["responses"]["200"]
    assert ok["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}


def test_deep_path_variable_with_regex_characters_in_its_literal(shelf_doc) -> None:
    op = operation(shelf_doc, "get", "/v2/{name}:download")
    assert op["operationId"] == "openapitest_v1_ShelfService_Download_1"
    schema = params(op, "path")["name"]["schema"]
    assert schema == {"type": "string", "pattern": r"^files\.v2/.+$"}
    assert json_schema_ok(shelf_doc, schema, "files.v2/a/b") and not json_schema_ok(shelf_doc, schema, "filesXv2/a")


def test_unnameable_http_methods_and_unannotated_rpcs_are_left_out(shelf_doc) -> None:
    operation_ids = {op["operationId"] for item in shelf_doc["paths"].values() for op in item.values()}
    assert not any(i.endswith(("ListBooks", "Unexposed")) for i in operation_ids)
    assert "/v1/books" not in shelf_doc["paths"]


def test_json_format_output_matches_the_response_schemas(shelf_doc, shelf_pb2) -> None:
    from google.protobuf import struct_pb2

    scalars = shelf_pb2.Scalars(
        f_int32=-(2**31), f_int64=-(2**63), f_uint32=2**32 - 1, f_uint64=2**64 - 1, f_sint64=2**63 - 1,
        f_fixed64=2**64 - 1, f_float=3.0e38, f_double=math.nan, f_bool=True, f_string="s", f_bytes=b"\xff\x00",
        f_enum=shelf_pb2.GREEN, f_tags=["a", "b"], f_optional=0,
        nested=shelf_pb2.Nested(label="n", child=shelf_pb2.Nested(ids=[1, -2]), attrs={"k": "v"}),
    )
    scalars.since.FromSeconds(0)
    scalars.limit.value = 2**62
    scalars.filter.update({"a": [1, None]})
    tree = shelf_pb2.Tree(value="root", children=[shelf_pb2.Tree(value="leaf")])
    everything = shelf_pb2.Everything(
        ttl={"seconds": -1, "nanos": -500_000_000}, anything=struct_pb2.Value(string_value="x"),
        books_by_id={-5: shelf_pb2.Book(name="b", color=shelf_pb2.RED)}, by_flag={True: "yes"},
        forest=[tree], tree=tree, number=3, server_id="s", colors=[shelf_pb2.RED],
    )
    everything.at.FromJsonString("2024-01-31T08:00:00.5Z")
    everything.mask.paths.extend(["book.title", "update_mask"])
    everything.list.extend([1, "two"])
    everything.nothing.SetInParent()
    everything.extra.Pack(shelf_pb2.Book(name="b"))
    everything.ratio.value = math.inf
    everything.flag.value = False
    for message, path, method in [(scalars, "/v1/search", "get"), (everything, "/v1/everything", "post")]:
        data = json_format.MessageToDict(message, preserving_proto_field_name=True)
        assert json_schema_ok(shelf_doc, success_schema(shelf_doc, method, path), data), data
        data["from_a_newer_backend"] = 1
        assert json_schema_ok(shelf_doc, success_schema(shelf_doc, method, path), data)


@pytest.mark.parametrize(
    ("body", "schema_accepts", "parser_accepts"),
    [
        ({"number": 1, "ttl": "1.5s", "big": "12", "ratio": "NaN", "label": None, "null_value": None}, True, True),
        ({"extra": {"@type": "type.googleapis.com/openapitest.v1.Book", "name": "b"}}, True, True),
        ({"books_by_id": {"7": {"name": "b", "title": "t"}}, "by_flag": {"false": "no"}}, True, True),
        ({"text": "a", "number": 1}, False, False),  # two members of one oneof
        ({"unknown": 1}, False, False),
        ({"forest": [{"value": "a", "unknown": 1}]}, False, False),
        ({"colors": ["BLUE"]}, False, False),
        ({"ttl": "1.5"}, False, False),
        ({"by_flag": {"yes": "no"}}, False, False),
        # REQUIRED is the contract's promise, checked by the service, not by the JSON parser.
        ({"books_by_id": {"7": {"title": "t"}}}, False, True),
    ],
)
def test_request_schema_agrees_with_json_format(shelf_doc, shelf_pb2, body, schema_accepts, parser_accepts) -> None:
    assert json_schema_ok(shelf_doc, body_schema(shelf_doc, "post", "/v1/everything"), body) is schema_accepts
    try:
        json_format.ParseDict(body, shelf_pb2.Everything())
    except json_format.ParseError:
        assert not parser_accepts
    else:
        assert parser_accepts


@pytest.mark.parametrize(
    ("path", "message"),
    [("/v1/everything", "Everything"), ("/v1/scalars", "Scalars"), ("/api/v1/users/login", "user.LoginRequest"),
     ("/api/v1/postcards/create", "postcard.CreatePostcardRequest")],
)
def test_every_body_the_schema_allows_parses(shelf_pb2, contract_routes, path, message) -> None:
    """Property: a body generated from the request schema is one the gateway's JSON parser accepts."""
    from postcardapp.postcard.v1 import postcard_service_pb2
    from postcardapp.user.v1 import user_service_pb2

    routes = [*contract_routes, *load_routes(rpc_catalog([SHELF + "ShelfService"]))]
    search = next(r for r in routes if r.method.name == "Search")  # Scalars as a body, not only as a query
    routes.append(dataclasses.replace(search, http_method="POST", body="*", template=parse_template("/v1/scalars")))
    document = add_contract_routes(BASE_DOCUMENT, routes, max_body_bytes=MAX_BODY)
    module = {"user": user_service_pb2, "postcard": postcard_service_pb2}.get(message.split(".")[0], shelf_pb2)
    cls = getattr(module, message.split(".")[-1])
    api = schemathesis.openapi.from_dict(json.loads(json.dumps(document)))

    @hypothesis.settings(max_examples=40, derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(api[path]["POST"].as_strategy())
    def parses(case: Any) -> None:
        body = dict(case.body)
        body.pop("extra", None)  # an Any holds only a type the gateway knows: no schema can list them
        json_format.ParseDict(body, cls())

    parses()


# --- the document as a whole ------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["doc", "shelf_doc"])
def test_the_document_is_valid_openapi_3_1(request, which) -> None:
    document = request.getfixturevalue(which)
    text = json.dumps(document)  # serialisable: served as is by /openapi.json
    loaded = schemathesis.openapi.from_dict(json.loads(text))
    loaded.validate()  # the OpenAPI 3.1 meta-schema
    for schema in all_schemas(document):
        jsonschema_rs.meta.validate(schema)  # every schema is valid JSON Schema 2020-12
        json_schema_ok(document, schema, None)  # and compiles, its patterns as ECMA-262 regexes included
    for target in all_refs(document):
        assert resolve(document, {"$ref": target}), target
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
