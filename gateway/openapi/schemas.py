"""Protobuf messages as JSON Schema (OpenAPI 3.1), following the proto3 JSON mapping.

Field names are the original proto names: the gateway writes and reads JSON
with `preserving_proto_field_name=True`. Each message becomes a component
schema in one of two variants, because a request and a response promise
different things:

- request, `<full name>-Input`: `additionalProperties: false` (the gateway
  answers 400 to an unknown field), `required` from `google.api.field_behavior
  = REQUIRED` or a `buf.validate` required rule, the fields' other `buf.validate`
  rules (`rules.py`: lengths, patterns, bounds, ...), and at most one member of
  each oneof;
- response, `<full name>`: nothing required (the gateway omits unpopulated
  fields) and additional properties allowed, so that a field added by a newer
  backend does not break a strict client.

Enums are shared component schemas named by their full name. Well-known types
are inlined as their proto3 JSON forms (Timestamp is a date-time string, a
wrapper is its nullable scalar, ...), so they never appear as components.
Recursive messages work because every other message is a `$ref`.
"""
from __future__ import annotations

import copy
import itertools
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from ..transcode.wellknown import HTTP_BODY, STRING_FORM_TYPES, WRAPPER_TYPES
from . import rules

Schema = dict[str, Any]
FieldPath = tuple[str, ...]

INPUT_SUFFIX = "-Input"  # "-" cannot occur in a proto name: no clash with a nested message
REF_PREFIX = "#/components/schemas/"

_F = FieldDescriptor


def _up_to(limit: int) -> str:
    """A regex alternation of the decimal integers 1..limit, without leading zeros."""
    digits = str(limit)
    alternatives = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        low, rest = (1 if i == 0 else 0), len(digits) - i - 1
        if int(digit) > low:
            below = str(low) if int(digit) - 1 == low else f"[{low}-{int(digit) - 1}]"
            alternatives.append(digits[:i] + below + (f"[0-9]{{{rest}}}" if rest else ""))
    return "|".join([*alternatives, digits])


def _decimal(bits: int, *, signed: bool) -> str:
    """A pattern of exactly the in-range integers as text: the JSON parser rejects the others."""
    if signed:
        return f"^(0|{_up_to(2 ** (bits - 1) - 1)}|-({_up_to(2 ** (bits - 1))}))$"
    return f"^(0|{_up_to(2**bits - 1)})$"


_INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
# OpenAPI has no uint32 format: every uint32 fits in an int64.
_UINT32 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
# proto3 JSON writes 64-bit integers as decimal strings: a JavaScript number cannot hold them exactly.
_INT64 = {"type": "string", "pattern": _decimal(64, signed=True), "description": "64-bit integer as a decimal string."}
_UINT64 = {"type": "string", "pattern": _decimal(64, signed=False),
           "description": "Unsigned 64-bit integer as a decimal string."}
_NON_FINITE = {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}
_FLOAT_MAX = 3.4028234663852886e38  # the JSON parser rejects a float field beyond float32's range
_FLOAT = {"oneOf": [{"type": "number", "format": "float", "minimum": -_FLOAT_MAX, "maximum": _FLOAT_MAX}, _NON_FINITE]}
_DOUBLE = {"oneOf": [{"type": "number", "format": "double"}, _NON_FINITE]}
_BYTES = {"type": "string", "format": "byte", "contentEncoding": "base64"}
_DURATION_MAX = 315_576_000_000  # seconds in 10,000 years: the range of google.protobuf.Duration
_PATHS = r"[a-zA-Z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*)*"

_SIGNED_32 = (_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32)
_UNSIGNED_32 = (_F.TYPE_UINT32, _F.TYPE_FIXED32)
_SIGNED_64 = (_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64)
_UNSIGNED_64 = (_F.TYPE_UINT64, _F.TYPE_FIXED64)
_SCALARS: dict[int, Schema] = {
    **{t: _INT32 for t in _SIGNED_32},
    **{t: _UINT32 for t in _UNSIGNED_32},
    **{t: _INT64 for t in _SIGNED_64},
    **{t: _UINT64 for t in _UNSIGNED_64},
    _F.TYPE_FLOAT: _FLOAT,
    _F.TYPE_DOUBLE: _DOUBLE,
    _F.TYPE_BOOL: {"type": "boolean"},
    _F.TYPE_STRING: {"type": "string"},
    _F.TYPE_BYTES: _BYTES,
}
# Map keys are JSON object keys, so always strings: integer keys are decimal text.
_MAP_KEYS: dict[int, Schema] = {
    **{t: {"pattern": _decimal(32, signed=True)} for t in _SIGNED_32},
    **{t: {"pattern": _decimal(32, signed=False)} for t in _UNSIGNED_32},
    **{t: {"pattern": _decimal(64, signed=True)} for t in _SIGNED_64},
    **{t: {"pattern": _decimal(64, signed=False)} for t in _UNSIGNED_64},
    _F.TYPE_BOOL: {"enum": ["true", "false"]},
}
_WRAPPERS: dict[str, Schema] = {
    "google.protobuf.DoubleValue": _DOUBLE,
    "google.protobuf.FloatValue": _FLOAT,
    "google.protobuf.Int64Value": _INT64,
    "google.protobuf.UInt64Value": _UINT64,
    "google.protobuf.Int32Value": _INT32,
    "google.protobuf.UInt32Value": _UINT32,
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": _BYTES,
}
# Well-known types whose JSON form is a string: also usable as query and path values.
_STRING_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time", "description": "RFC 3339 timestamp."},
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": rf"^-?(0|{_up_to(_DURATION_MAX)})(\.[0-9]{{1,9}})?s$",
        "description": "Seconds with up to 9 decimals and an `s` suffix, e.g. `1.5s`.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "pattern": f"^({_PATHS}(,{_PATHS})*)?$",
        "description": "Comma-separated field paths in lowerCamelCase.",
    },
}
# The transcoder's list of types settable from a string is the one these tables must describe.
assert set(_WRAPPERS) == WRAPPER_TYPES and set(_STRING_WELL_KNOWN) == STRING_FORM_TYPES
_OTHER_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string", "format": "uri-reference"}},
        "description": "`@type` names a message type the gateway knows; its fields sit beside it.",
    },
}


def is_http_body(field_or_message: FieldDescriptor | Descriptor) -> bool:
    """True for google.api.HttpBody, or a singular field of that type: raw bytes, not JSON."""
    if isinstance(field_or_message, FieldDescriptor):
        message = field_or_message.message_type
        return message is not None and not field_or_message.is_repeated and message.full_name == HTTP_BODY
    return field_or_message.full_name == HTTP_BODY


def behaviors(field: FieldDescriptor) -> list[int]:
    """The field's google.api.field_behavior values (REQUIRED, OUTPUT_ONLY, ...)."""
    return list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


class SchemaSet:
    """Converts messages and fields to schemas, collecting the component schemas they refer to.

    `components` holds only what was referred to, so an unused message never
    shows up in the document. One instance serves one document.
    """

    def __init__(self) -> None:
        self.components: dict[str, Schema] = {}

    def message(self, message: Descriptor, *, request: bool, omit: frozenset[FieldPath] = frozenset()) -> Schema:
        """A `$ref` to the message's component (inline for a well-known type).

        `omit` lists field paths to leave out (fields bound by path variables);
        a message with omissions is inlined, since its component stays complete.
        """
        well_known = self._well_known(message, request=request)
        if well_known is not None:
            return well_known
        if omit:
            return self._object(message, request=request, omit=omit)
        name = message.full_name + (INPUT_SUFFIX if request else "")
        if name not in self.components:
            self.components[name] = {}  # reserve the name first: a recursive message refers to itself
            self.components[name] = self._object(message, request=request, omit=frozenset())
        return {"$ref": REF_PREFIX + name}

    def field(self, field: FieldDescriptor, *, request: bool) -> Schema:
        """The JSON value of a field: scalar, enum, message, array (repeated) or object (map)."""
        if is_map(field):
            assert field.message_type is not None  # a map field's entry type
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            schema: Schema = {"type": "object", "additionalProperties": self._single(value, request=request)}
            if key.type in _MAP_KEYS:
                schema["propertyNames"] = dict(_MAP_KEYS[key.type])
            return schema
        single = self._single(field, request=request)
        return {"type": "array", "items": single} if field.is_repeated else single

    def parameter_value(self, field: FieldDescriptor) -> Schema | None:
        """One value of a field as a path or query parameter: None if a string cannot carry it.

        Scalars, enums and the well-known types written as strings or scalars
        qualify (a wrapper is its scalar, not nullable); other messages and
        maps do not. The value's `buf.validate` rules are not in it (`rules.constrain`).
        """
        if is_map(field):
            return None
        message = field.message_type
        if message is None:
            return self._single(field, request=True)
        if message.full_name in _STRING_WELL_KNOWN:
            return copy.deepcopy(_STRING_WELL_KNOWN[message.full_name])
        if message.full_name in _WRAPPERS:
            return copy.deepcopy(_WRAPPERS[message.full_name])
        return None

    def _single(self, field: FieldDescriptor, *, request: bool) -> Schema:
        if field.message_type is not None:  # TYPE_MESSAGE and TYPE_GROUP share the JSON mapping
            return self.message(field.message_type, request=request)
        if field.enum_type is not None:
            return self._enum(field.enum_type)
        return copy.deepcopy(_SCALARS[field.type])

    def _enum(self, enum: EnumDescriptor) -> Schema:
        if enum.full_name == "google.protobuf.NullValue":
            return {"type": "null"}
        if enum.full_name not in self.components:
            self.components[enum.full_name] = {
                "type": "string",
                "enum": [value.name for value in enum.values],
                "description": f"Enum `{enum.full_name}`, written by value name.",
            }
        return {"$ref": REF_PREFIX + enum.full_name}

    def _well_known(self, message: Descriptor, *, request: bool) -> Schema | None:
        name = message.full_name
        if name in _STRING_WELL_KNOWN:
            return copy.deepcopy(_STRING_WELL_KNOWN[name])
        if name in _WRAPPERS:
            return _nullable(copy.deepcopy(_WRAPPERS[name]))
        if name not in _OTHER_WELL_KNOWN:
            return None
        schema = copy.deepcopy(_OTHER_WELL_KNOWN[name])
        if request and name == "google.protobuf.Empty":
            schema["additionalProperties"] = False
        if request and name == "google.protobuf.Any":
            schema["required"] = ["@type"]
        return schema

    def _object(self, message: Descriptor, *, request: bool, omit: frozenset[FieldPath]) -> Schema:
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in message.fields:
            if (field.name,) in omit:
                continue
            inner = frozenset(path[1:] for path in omit if len(path) > 1 and path[0] == field.name)
            if inner and field.message_type is not None and not field.is_repeated:
                schema = self.message(field.message_type, request=request, omit=inner)
            else:
                schema = self.field(field, request=request)
            if request:
                rules.constrain(schema, field)
            properties[field.name] = _annotate(schema, field)
            if request and (field_behavior_pb2.REQUIRED in behaviors(field) or rules.is_required(field)):
                required.append(field.name)
        schema = {"type": "object", "description": f"Message `{message.full_name}`.", "properties": properties}
        if request:
            schema["additionalProperties"] = False
            if required:
                schema["required"] = required
            # The JSON parser rejects two members of one oneof in the same message.
            pairs = [
                {"required": list(pair)}
                for oneof in message.oneofs
                for pair in itertools.combinations([f.name for f in oneof.fields if f.name in properties], 2)
            ]
            if pairs:
                schema["not"] = {"anyOf": pairs}
        return schema


def _nullable(schema: Schema) -> Schema:
    if "oneOf" in schema:
        schema["oneOf"].append({"type": "null"})
    else:
        schema["type"] = [schema["type"], "null"]
    return schema


def _annotate(schema: Schema, field: FieldDescriptor) -> Schema:
    """Add what the descriptor says about the field beside its type (siblings of `$ref` are fine in 3.1)."""
    found = behaviors(field)
    if field_behavior_pb2.OUTPUT_ONLY in found:
        schema["readOnly"] = True
    if field_behavior_pb2.INPUT_ONLY in found:
        schema["writeOnly"] = True
    if field.GetOptions().deprecated:
        schema["deprecated"] = True
    oneof = field.containing_oneof
    if oneof is not None and len(oneof.fields) > 1:  # a proto3 `optional` is a one-member (synthetic) oneof
        members = ", ".join(f"`{f.name}`" for f in oneof.fields)
        note = f"Oneof `{oneof.name}`: at most one of {members} is set."
        schema["description"] = f"{schema['description']} {note}" if "description" in schema else note
    return schema
