"""The buf.validate rules in the document: each kind as JSON Schema, and in agreement with protovalidate."""
from __future__ import annotations

from typing import Any

import pytest

from contractrules.violations import RequestRules

from .support import INT64, RULES, UINT32, json_schema_ok, operation, params

PROPERTIES_OF = "properties"


@pytest.fixture(scope="module")
def ruled(rules_doc: dict[str, Any]) -> dict[str, Any]:
    return rules_doc["components"]["schemas"][RULES + "Ruled-Input"]


@pytest.mark.parametrize(
    ("field", "published"),
    [
        ("size", {"minimum": 1, "exclusiveMaximum": 100}),
        ("choice", {"enum": [2, 4, 8]}),
        ("count", {"not": {"enum": [0]}}),
        ("code", {"minLength": 4, "maxLength": 4}),
        ("id", {"format": "uuid"}),
        ("email", {"format": "email"}),
        ("tag", {"enum": ["a", "b"]}),
        ("nick", {"anyOf": [{"const": ""}, {"minLength": 3}]}),
        ("labels", {"minItems": 1, "maxItems": 3, "uniqueItems": True, "items": {"type": "string", "maxLength": 2}}),
        ("scores", {"minItems": 1}),
        ("attrs", {"maxProperties": 2}),
        ("shade", {"not": {"enum": ["NEON"]}}),
        ("tone", {"const": "DARK"}),
        ("name", {"pattern": "^[a-z]+$"}),
    ],
)
def test_each_kind_of_rule_is_published(ruled: dict[str, Any], field: str, published: dict[str, Any]) -> None:
    schema = ruled[PROPERTIES_OF][field]
    assert {key: schema[key] for key in published} == published


@pytest.mark.parametrize(("field", "keys"), [("odd_range", UINT32), ("free", {"type": "string"}), ("big", INT64)])
def test_what_json_schema_cannot_say_is_left_out(ruled: dict[str, Any], field: str, keys: dict[str, Any]) -> None:
    """An exclusive range (gt >= lt), IGNORE_ALWAYS, a 64-bit bound (a JSON string): the type's schema only."""
    schema = ruled[PROPERTIES_OF][field]
    assert set(schema) == set(keys)
    assert {k: v for k, v in schema.items() if k != "pattern"} == {k: v for k, v in keys.items() if k != "pattern"}


def test_required_rules_make_required_members(ruled: dict[str, Any]) -> None:
    assert ruled["required"] == ["count", "scores"]


def test_parameters_carry_their_rules(rules_doc: dict[str, Any]) -> None:
    op = operation(rules_doc, "get", "/v1/ruled/{id}")
    path = params(op, "path")["id"]["schema"]
    assert (path["minLength"], path["maxLength"], path["pattern"]) == (2, 8, "^[a-z0-9]+$")
    query = params(op, "query")
    assert (query["page_size"]["schema"]["minimum"], query["page_size"]["schema"]["maximum"]) == (0, 50)
    assert query["page_size"]["required"] is False
    assert query["must"]["required"] is True and query["must"]["schema"]["minLength"] == 1


SAMPLES: dict[str, list[Any]] = {
    "size": [0, 1, 50, 99, 100, -5],
    "choice": [0, 2, 3, 8],
    "count": [0, 1, -1],
    "code": ["", "abc", "abcd", "abcde", "喜喜喜喜"],
    "tag": ["", "a", "b", "c"],
    "nick": ["", "ab", "abc"],
    "labels": [[], ["a"], ["a", "a"], ["a", "b", "c"], ["a", "b", "c", "d"], ["abc"]],
    "scores": [[], [1]],
    "shade": ["SHADE_UNSPECIFIED", "LIGHT", "NEON"],
    "tone": ["LIGHT", "DARK"],
    "name": ["", "abc", "aBc"],
}


@pytest.mark.parametrize("field", list(SAMPLES))
def test_the_document_agrees_with_protovalidate(
    rules_doc: dict[str, Any], ruled: dict[str, Any], rules_pb2: Any, field: str
) -> None:
    from google.protobuf import json_format

    rules = RequestRules()
    for value in SAMPLES[field]:
        message = json_format.ParseDict({field: value}, rules_pb2.Ruled())
        broken = rules.check(message)
        keeps = broken is None or all(not v.field.startswith(field) for v in broken.bad_request.field_violations)
        assert json_schema_ok(rules_doc, ruled[PROPERTIES_OF][field], value) == keeps, (field, value)
