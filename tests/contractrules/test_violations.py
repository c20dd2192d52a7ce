"""The shared rule check: protovalidate's violations as one google.rpc.BadRequest, the same for everyone."""
from __future__ import annotations

import grpc
import pytest
from protobuf import Oneof
from protovalidate import FieldPathElementPb

from contractrules.violations import RequestRules, field_path
from postcardapp.postcard.v1 import postcard_service_pb2 as pb


@pytest.mark.parametrize(
    ("elements", "path"),
    [
        ([], ""),
        ([FieldPathElementPb(field_name="mood")], "mood"),
        ([FieldPathElementPb(field_name="item"), FieldPathElementPb(field_name="title")], "item.title"),
        ([FieldPathElementPb(field_name="items", subscript=Oneof("index", 2)), FieldPathElementPb(field_name="name")],
         "items[2].name"),
        ([FieldPathElementPb(field_name="labels", subscript=Oneof("string_key", "k"))], 'labels["k"]'),
        ([FieldPathElementPb(field_name="flags", subscript=Oneof("bool_key", True))], "flags[true]"),
        ([FieldPathElementPb(field_name="sizes", subscript=Oneof("int_key", -3))], "sizes[-3]"),
    ],
)  # fmt: skip
def test_field_path(elements: list[FieldPathElementPb], path: str) -> None:
    assert field_path(elements) == path


def test_a_valid_request_has_no_violations() -> None:
    assert RequestRules().check(pb.CreatePostcardRequest(mood="calm", style="ink", theme="rain")) is None


def test_violations_as_a_status() -> None:
    violations = RequestRules().check(pb.CreatePostcardRequest(mood="calm", style="", theme="t" * 201))

    assert violations is not None
    assert violations.message == "style: value is required (and 1 more)"
    status = violations.status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and status.message == violations.message
    assert [d.type_url for d in status.details] == ["type.googleapis.com/google.rpc.BadRequest"]
    assert [(v.field, v.reason, v.description) for v in violations.bad_request.field_violations] == [
        ("style", "required", "value is required"),
        ("theme", "string.max_len", "must be at most 200 characters"),
    ]
