"""What the OpenAPI tests share: the test-only contract (SHELF_PROTO) and helpers to read a document.

The test-only contract covers what the real ones do not: every scalar kind, enums, maps, recursion,
well-known types, oneofs, a multi-segment path variable, a field-named body and additional bindings.
"""
from __future__ import annotations

import random
import re
from typing import Any

import jsonschema_rs

from gateway.openapi.document import add_contract_routes
from gateway.routes.table import Route
from gateway.transcode.plan import build_plan

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

# A test-only contract with buf.validate rules of every kind the document publishes (gateway/openapi/rules.py).
RULES_PROTO = """
syntax = "proto3";
package rulestest.v1;

import "buf/validate/validate.proto";
import "google/api/annotations.proto";
import "postcardapp/gateway/v1/options.proto";

service RulesService {
  rpc Put(Ruled) returns (Ruled) {
    option (google.api.http) = {post: "/v1/ruled" body: "*"};
  }
  rpc Find(Query) returns (Ruled) {
    option (google.api.http) = {get: "/v1/ruled/{id}"};
  }
}

enum Shade {
  SHADE_UNSPECIFIED = 0;
  LIGHT = 1;
  DARK = 2;
  NEON = 3;
}

message Ruled {
  int32 size = 1 [(buf.validate.field).int32 = {gte: 1, lt: 100}];
  uint32 odd_range = 2 [(buf.validate.field).uint32 = {gt: 10, lt: 5}];
  int32 choice = 3 [(buf.validate.field).int32 = {in: [2, 4, 8]}];
  int32 count = 4 [(buf.validate.field).required = true];
  string code = 5 [(buf.validate.field).string.len = 4];
  string id = 6 [(buf.validate.field).string.uuid = true];
  string email = 7 [(buf.validate.field).string.email = true];
  string tag = 8 [(buf.validate.field).string = {in: ["a", "b"]}];
  string nick = 9 [(buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE, (buf.validate.field).string.min_len = 3];
  string free = 10 [(buf.validate.field).ignore = IGNORE_ALWAYS, (buf.validate.field).string.min_len = 3];
  repeated string labels = 11 [(buf.validate.field).repeated = {
    min_items: 1, max_items: 3, unique: true, items: {string: {max_len: 2}}
  }];
  repeated int32 scores = 12 [(buf.validate.field).required = true];
  map<string, string> attrs = 13 [(buf.validate.field).map = {max_pairs: 2}];
  Shade shade = 14 [(buf.validate.field).enum = {not_in: [3]}];
  Shade tone = 15 [(buf.validate.field).enum.const = 2];
  int64 big = 16 [(buf.validate.field).int64.gt = 5];
  string name = 17 [(buf.validate.field).string.pattern = "^[a-z]+$"];
}

message Query {
  string id = 1 [(buf.validate.field).string = {min_len: 2, max_len: 8, pattern: "^[a-z0-9]+$"}];
  int32 page_size = 2 [(buf.validate.field).int32 = {gte: 0, lte: 50}];
  string must = 3 [(buf.validate.field).required = true];
}
"""
RULES = "rulestest.v1."



def document_of(routes: list[Route]) -> dict[str, Any]:
    """The document as the gateway builds it: from the route plans it serves."""
    return add_contract_routes(BASE_DOCUMENT, [build_plan(route) for route in routes], max_body_bytes=MAX_BODY)


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


# --- the type mapping the test-only contract's fields must have ------------------------------------------------

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
