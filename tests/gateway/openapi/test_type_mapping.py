"""Protobuf types as JSON Schema, checked against what json_format really writes and accepts."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import hypothesis
import pytest
import schemathesis
from google.protobuf import json_format

from gateway.routes.table import load_routes, rpc_catalog
from gateway.routes.template import parse_template

from .support import (
    DATE_TIME,
    DOUBLE,
    INT64,
    SCALAR_MAPPING,
    SHELF,
    body_schema,
    component,
    document_of,
    json_schema_ok,
    patterns,
    ref,
    resolve,
    success_schema,
)


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
    routes.append(dataclasses.replace(search, http_method="POST", body="*", template=parse_template("/v1/scalars"),
                                      binding=1))
    document = document_of(routes)
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

