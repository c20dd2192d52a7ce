"""gateway.transcode.encoder against its reference, json_format.MessageToDict(preserving_proto_field_name=True).

Property tests draw populated messages of every contract type and of two test-only types built
here from descriptors (a proto3 one with every field kind, a proto2 one with extensions, a group
and a closed enum) and require the same dict and the same orjson bytes (so key order, -0.0 against
0.0, 1 against 1.0 and True against 1 count), or the same exception. Example tests pin the edge
cases by name.
"""
from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import postcardapp
from bench.stub_backend import postcard, summaries
from gateway.transcode import encoder
from gateway.transcode.encoder import encoder_for, message_json
from postcardapp.postcard.v1 import postcard_service_pb2 as postcard_pb

F = descriptor_pb2.FieldDescriptorProto
REPEATED, OPTIONAL = F.LABEL_REPEATED, F.LABEL_OPTIONAL

SCALARS = {
    "double": F.TYPE_DOUBLE, "float": F.TYPE_FLOAT, "int64": F.TYPE_INT64, "uint64": F.TYPE_UINT64,
    "int32": F.TYPE_INT32, "fixed64": F.TYPE_FIXED64, "fixed32": F.TYPE_FIXED32, "bool": F.TYPE_BOOL,
    "string": F.TYPE_STRING, "bytes": F.TYPE_BYTES, "uint32": F.TYPE_UINT32, "sfixed32": F.TYPE_SFIXED32,
    "sfixed64": F.TYPE_SFIXED64, "sint32": F.TYPE_SINT32, "sint64": F.TYPE_SINT64,
}
MAP_KEYS = [k for k in SCALARS if k not in ("double", "float", "bytes")]
WRAPPERS = ["DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue",
            "StringValue", "BytesValue"]
WELL_KNOWN = {
    "timestamp": "Timestamp", "duration": "Duration", "field_mask": "FieldMask", "struct": "Struct",
    "value": "Value", "list_value": "ListValue", "empty": "Empty", "any": "Any",
    **{f"w_{name.lower()}": name for name in WRAPPERS},
}
WKT_MODULES = [any_pb2, duration_pb2, empty_pb2, field_mask_pb2, struct_pb2, timestamp_pb2, wrappers_pb2]


class _Fields:
    """Adds fields to a DescriptorProto with numbers out of declaration order (the encoder must sort)."""

    def __init__(self, message: descriptor_pb2.DescriptorProto, first: int) -> None:
        self.message, self.number = message, first

    def add(self, name: str, type_: int, label: int = OPTIONAL, type_name: str = "", **extra: Any) -> None:
        self.number += 1
        number = self.number * 389 % 997 + 1  # distinct numbers below 998, out of order
        if type_name:
            extra["type_name"] = type_name
        self.message.field.add(name=name, number=number, type=type_, label=label, **extra)


def _map_entry(message: descriptor_pb2.DescriptorProto, name: str, key: int, value: int, value_type: str = "") -> str:
    entry = message.nested_type.add(name=name)
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=key, label=OPTIONAL)
    extra = {"type_name": value_type} if value_type else {}
    entry.field.add(name="value", number=2, type=value, label=OPTIONAL, **extra)
    return entry.name


def _everything_file() -> descriptor_pb2.FileDescriptorProto:
    """proto3: every scalar (implicit, optional, repeated), an open enum with an alias and a negative number, a
    oneof, maps of every key type and of scalar, enum, message and well-known values, nested and recursive
    messages, every well-known type singular, some repeated, and two fields named by Python keywords."""
    file = descriptor_pb2.FileDescriptorProto(
        name="encodertest/everything.proto", package="encodertest", syntax="proto3",
        dependency=[module.DESCRIPTOR.name for module in WKT_MODULES],
    )
    color = file.enum_type.add(name="Color")
    color.options.allow_alias = True
    for name, number in [("COLOR_UNSPECIFIED", 0), ("RED", 1), ("ROUGE", 1), ("GREEN", 2), ("BLUE", -3)]:
        color.value.add(name=name, number=number)
    nested = file.message_type.add(name="Nested")
    nested.field.add(name="id", number=1, type=F.TYPE_INT64, label=OPTIONAL)
    nested.field.add(name="label", number=2, type=F.TYPE_STRING, label=OPTIONAL)
    nested.field.add(name="color", number=3, type=F.TYPE_ENUM, label=OPTIONAL, type_name=".encodertest.Color")
    nested.field.add(name="children", number=4, type=F.TYPE_MESSAGE, label=REPEATED,
                     type_name=".encodertest.Nested")

    m = file.message_type.add(name="Everything")
    fields = _Fields(m, 0)
    m.oneof_decl.add(name="choice")  # real oneofs come before the synthetic ones of proto3 optional
    for name, type_ in SCALARS.items():
        fields.add(f"s_{name}", type_)
        fields.add(f"r_{name}", type_, REPEATED)
    for name, type_ in SCALARS.items():
        m.oneof_decl.add(name=f"_o_{name}")
        fields.add(f"o_{name}", type_, proto3_optional=True, oneof_index=len(m.oneof_decl) - 1)
    m.oneof_decl.add(name="_o_color")
    fields.add("o_color", F.TYPE_ENUM, type_name=".encodertest.Color", proto3_optional=True,
               oneof_index=len(m.oneof_decl) - 1)
    fields.add("color", F.TYPE_ENUM, type_name=".encodertest.Color")
    fields.add("r_color", F.TYPE_ENUM, REPEATED, type_name=".encodertest.Color")
    fields.add("nested", F.TYPE_MESSAGE, type_name=".encodertest.Nested")
    fields.add("r_nested", F.TYPE_MESSAGE, REPEATED, type_name=".encodertest.Nested")
    fields.add("child", F.TYPE_MESSAGE, type_name=".encodertest.Everything")
    fields.add("from", F.TYPE_INT32)
    fields.add("None", F.TYPE_STRING)
    for name, type_, type_name in [
        ("string", F.TYPE_STRING, ""), ("int64", F.TYPE_INT64, ""), ("double", F.TYPE_DOUBLE, ""),
        ("bytes", F.TYPE_BYTES, ""), ("color", F.TYPE_ENUM, ".encodertest.Color"),
        ("nested", F.TYPE_MESSAGE, ".encodertest.Nested"), ("timestamp", F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
    ]:
        fields.add(f"choice_{name}", type_, type_name=type_name, oneof_index=0)
    for key in MAP_KEYS:
        entry = _map_entry(m, f"Map{key.capitalize()}StringEntry", SCALARS[key], F.TYPE_STRING)
        fields.add(f"map_{key}_string", F.TYPE_MESSAGE, REPEATED, f".encodertest.Everything.{entry}")
    for value, type_ in SCALARS.items():
        if value == "string":
            continue  # map_string_string is one of the key types
        entry = _map_entry(m, f"MapString{value.capitalize()}Entry", F.TYPE_STRING, type_)
        fields.add(f"map_string_{value}", F.TYPE_MESSAGE, REPEATED, f".encodertest.Everything.{entry}")
    for key, value, type_, type_name in [
        ("string", "color", F.TYPE_ENUM, ".encodertest.Color"),
        ("bool", "nested", F.TYPE_MESSAGE, ".encodertest.Nested"),
        ("int64", "nested", F.TYPE_MESSAGE, ".encodertest.Nested"),
        ("string", "timestamp", F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        ("string", "value", F.TYPE_MESSAGE, ".google.protobuf.Value"),
        ("uint32", "int64_value", F.TYPE_MESSAGE, ".google.protobuf.Int64Value"),
    ]:
        entry = _map_entry(m, f"Map{key.capitalize()}{value.title().replace('_', '')}Entry", SCALARS[key], type_,
                           type_name)
        fields.add(f"map_{key}_{value}", F.TYPE_MESSAGE, REPEATED, f".encodertest.Everything.{entry}")
    for name, type_name in WELL_KNOWN.items():
        fields.add(name, F.TYPE_MESSAGE, type_name=f".google.protobuf.{type_name}")
    for name in ["timestamp", "value", "any", "w_int64value", "struct"]:
        fields.add(f"r_{name}", F.TYPE_MESSAGE, REPEATED, f".google.protobuf.{WELL_KNOWN[name]}")
    return file


def _legacy_file() -> descriptor_pb2.FileDescriptorProto:
    """proto2: defaults, a closed enum, a group, a oneof, a map, and extensions numbered between the fields."""
    file = descriptor_pb2.FileDescriptorProto(name="encodertest/legacy.proto", package="encodertest.legacy",
                                              syntax="proto2")
    shade = file.enum_type.add(name="Shade")
    shade.value.add(name="NONE", number=0)  # a map's enum values need a zero first
    shade.value.add(name="LIGHT", number=1)
    shade.value.add(name="DARK", number=2)
    m = file.message_type.add(name="Legacy")
    group = m.nested_type.add(name="Group")
    group.field.add(name="a", number=8, type=F.TYPE_INT32, label=OPTIONAL)
    m.oneof_decl.add(name="pick")
    m.field.add(name="tail", number=250, type=F.TYPE_STRING, label=OPTIONAL)
    m.field.add(name="count", number=1, type=F.TYPE_INT32, label=OPTIONAL, default_value="7")
    m.field.add(name="name", number=2, type=F.TYPE_STRING, label=OPTIONAL, default_value="anon")
    m.field.add(name="shade", number=3, type=F.TYPE_ENUM, label=OPTIONAL, type_name=".encodertest.legacy.Shade")
    m.field.add(name="shades", number=4, type=F.TYPE_ENUM, label=REPEATED, type_name=".encodertest.legacy.Shade")
    m.field.add(name="group", number=7, type=F.TYPE_GROUP, label=OPTIONAL,
                type_name=".encodertest.legacy.Legacy.Group")
    m.field.add(name="next", number=9, type=F.TYPE_MESSAGE, label=OPTIONAL, type_name=".encodertest.legacy.Legacy")
    m.field.add(name="pick_name", number=10, type=F.TYPE_STRING, label=OPTIONAL, oneof_index=0)
    m.field.add(name="pick_shade", number=11, type=F.TYPE_ENUM, label=OPTIONAL, oneof_index=0,
                type_name=".encodertest.legacy.Shade")
    entry = _map_entry(m, "ShadeMapEntry", F.TYPE_STRING, F.TYPE_ENUM, ".encodertest.legacy.Shade")
    m.field.add(name="shade_map", number=12, type=F.TYPE_MESSAGE, label=REPEATED,
                type_name=f".encodertest.legacy.Legacy.{entry}")
    m.field.add(name="ratio", number=13, type=F.TYPE_FLOAT, label=OPTIONAL)
    m.extension_range.add(start=100, end=200)
    for name, number, type_, label, type_name in [
        ("ext_int", 100, F.TYPE_INT64, OPTIONAL, ""),
        ("ext_shade", 101, F.TYPE_ENUM, OPTIONAL, ".encodertest.legacy.Shade"),
        ("ext_strings", 102, F.TYPE_STRING, REPEATED, ""),
        ("ext_next", 103, F.TYPE_MESSAGE, OPTIONAL, ".encodertest.legacy.Legacy"),
        ("ext_double", 104, F.TYPE_DOUBLE, OPTIONAL, ""),
        ("ext_bytes", 105, F.TYPE_BYTES, REPEATED, ""),
    ]:
        file.extension.add(name=name, number=number, type=type_, label=label, extendee=".encodertest.legacy.Legacy",
                           **({"type_name": type_name} if type_name else {}))
    return file


# In the default pool, as generated code is: they share its well-known types, and an Any can hold them.
POOL = descriptor_pool.Default()
POOL.Add(_everything_file())
POOL.Add(_legacy_file())
EVERYTHING = POOL.FindMessageTypeByName("encodertest.Everything")
LEGACY = POOL.FindMessageTypeByName("encodertest.legacy.Legacy")
Everything = message_factory.GetMessageClass(EVERYTHING)
Legacy = message_factory.GetMessageClass(LEGACY)


def _message_types(descriptors: Any) -> Iterator[Descriptor]:
    for descriptor in descriptors:
        yield descriptor
        yield from _message_types(descriptor.nested_types)


def _contract_types() -> list[Descriptor]:
    """Every message type of the generated contract modules, and every type their fields and methods reach."""
    modules = [importlib.import_module(m.name) for m in pkgutil.walk_packages(postcardapp.__path__, "postcardapp.")
               if m.name.endswith("_pb2")]
    found: dict[str, Descriptor] = {}
    pending = [d for module in modules for d in _message_types(module.DESCRIPTOR.message_types_by_name.values())]
    pending += [method.output_type for module in modules for service in module.DESCRIPTOR.services_by_name.values()
                for method in service.methods]
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name not in found:
            found[descriptor.full_name] = descriptor
            pending += [f.message_type for f in descriptor.fields if f.message_type is not None]
    return sorted(found.values(), key=lambda d: d.full_name)


CONTRACT_TYPES = _contract_types()


def assert_same(message: Message) -> None:
    """The encoder gives json_format's dict, byte for byte once dumped, or raises json_format's exception."""
    try:
        expected = json_format.MessageToDict(message, preserving_proto_field_name=True)
    except Exception as error:
        with pytest.raises(type(error)) as raised:
            message_json(message)
        assert str(raised.value) == str(error)
        return
    got = message_json(message)
    assert got == expected
    assert orjson.dumps(got) == orjson.dumps(expected)
    # And without the guard's second pass through json_format: the converters alone are right.
    assert orjson.dumps(encoder._compiled(message.DESCRIPTOR)(message)) == orjson.dumps(expected)


# Strategies: a populated message of any descriptor.

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
RANGES = {
    F.TYPE_INT32: INT32, F.TYPE_SINT32: INT32, F.TYPE_SFIXED32: INT32,
    F.TYPE_INT64: INT64, F.TYPE_SINT64: INT64, F.TYPE_SFIXED64: INT64,
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", "😀 astral 𝄞", "\x00", "é\u2028\"\\", "生日快乐"]))
FLOATS = st.one_of(st.floats(width=32), st.sampled_from([0.1, -0.0, 1e-45, 3.4028234663852886e38, 16777217.0]))
DOUBLES = st.one_of(st.floats(), st.sampled_from([-0.0, math.nan, math.inf, -math.inf, 5e-324, 2.0**53 + 1]))
VALID_PATH = st.from_regex(r"[a-z][a-z0-9]{0,4}(_[a-z][a-z0-9]{0,4}){0,2}(\.[a-z][a-z0-9]{0,4}(_[a-z][a-z0-9]{0,4})?)?",
                           fullmatch=True)


def scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type in RANGES:
        low, high = RANGES[field.type]
        return st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, 1]))
    if field.type == F.TYPE_ENUM:
        known = st.sampled_from(sorted(field.enum_type.values_by_number))
        return known if field.enum_type.is_closed else st.one_of(known, st.integers(*INT32))  # unknown numbers
    return {
        F.TYPE_BOOL: st.booleans(), F.TYPE_STRING: TEXT, F.TYPE_BYTES: st.binary(max_size=12),
        F.TYPE_FLOAT: FLOATS, F.TYPE_DOUBLE: DOUBLES,
    }[field.type]


def json_values(valid: bool) -> st.SearchStrategy[Any]:
    numbers = st.floats(allow_nan=False, allow_infinity=False)
    if not valid:
        numbers = st.one_of(numbers, st.sampled_from([math.nan, math.inf, -math.inf]))
    leaves = st.one_of(st.none(), st.booleans(), numbers, TEXT)
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)


def _set_value(message: Any, value: Any) -> None:
    """A google.protobuf.Value of any pool set to a JSON value."""
    if value is None:
        message.null_value = 0
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, float):
        message.number_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, list):
        message.list_value.SetInParent()
        for item in value:
            _set_value(message.list_value.values.add(), item)
    else:
        message.struct_value.SetInParent()
        for key, item in value.items():
            _set_value(message.struct_value.fields[key], item)


def _packable() -> list[Message]:
    return [timestamp_pb2.Timestamp(seconds=1, nanos=5000), duration_pb2.Duration(seconds=-3, nanos=-1),
            struct_pb2.Value(string_value="x"), struct_pb2.Struct(), wrappers_pb2.Int64Value(value=7),
            empty_pb2.Empty(), field_mask_pb2.FieldMask(paths=["a_b"]), postcard(), Everything(s_float=0.1, color=99),
            postcard_pb.ListMyPostcardsResponse(postcards=summaries(2))]


@st.composite
def well_known(draw: st.DrawFn, descriptor: Descriptor, valid: bool) -> Message | None:
    """A value of a well-known type; None for the other types. With `valid` False, some that json_format refuses."""
    cls: Any = message_factory.GetMessageClass(descriptor)
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        seconds = st.one_of(st.integers(-62135596800, 253402300799), st.sampled_from([-62135596800, 253402300799, 0]))
        nanos = st.one_of(st.just(0), st.integers(0, 999).map(lambda n: n * 1_000_000),
                          st.integers(0, 999_999).map(lambda n: n * 1000), st.integers(0, 999_999_999))
        if not valid:
            seconds, nanos = st.one_of(seconds, st.integers(*INT64)), st.one_of(nanos, st.integers(*INT32))
        return cls(seconds=draw(seconds), nanos=draw(nanos))  # type: ignore[no-any-return]
    if name == "google.protobuf.Duration":
        seconds = draw(st.integers(-315576000000, 315576000000) if valid else st.integers(*INT64))
        nanos = draw(st.integers(0, 999_999_999) if valid else st.integers(*INT32))
        if valid and (seconds < 0 or (seconds == 0 and draw(st.booleans()))):
            nanos = -nanos  # the signs agree
        return cls(seconds=seconds, nanos=nanos)  # type: ignore[no-any-return]
    if name == "google.protobuf.FieldMask":
        return cls(paths=draw(st.lists(VALID_PATH if valid else TEXT, max_size=3)))  # type: ignore[no-any-return]
    if name in ("google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"):
        message = cls()
        if name == "google.protobuf.Value":
            if draw(st.booleans()):  # else unset: null as well
                _set_value(message, draw(json_values(valid)))
        elif name == "google.protobuf.Struct":
            for key, value in draw(st.dictionaries(TEXT, json_values(valid), max_size=3)).items():
                _set_value(message.fields[key], value)
        else:
            for value in draw(st.lists(json_values(valid), max_size=3)):
                _set_value(message.values.add(), value)
        return message  # type: ignore[no-any-return]
    if name == "google.protobuf.Any":
        message = cls()
        choice = draw(st.integers(-2 if valid else -4, len(_packable()) - 1))
        if choice == -3:  # a type no pool knows: TypeError
            message.type_url, message.value = "type.googleapis.com/nowhere.Nothing", b""
        elif choice == -4:  # a known type, bytes that do not parse: DecodeError
            message.type_url, message.value = "type.googleapis.com/google.protobuf.Timestamp", b"\xff"
        elif choice >= 0:
            message.Pack(_packable()[choice])
        elif choice == -1:
            message.type_url = "type.googleapis.com/google.protobuf.Empty"  # an empty value
        return message  # type: ignore[no-any-return]
    return None


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 2, valid: bool = True) -> Message:
    """A message of `descriptor` with a drawn subset of its fields (and extensions) populated; messages nest at
    most `depth` levels below it, well-known types aside."""
    special = draw(well_known(descriptor, valid))
    if special is not None:
        return special
    message: Any = message_factory.GetMessageClass(descriptor)()
    candidates = [field for field in _fields_of(descriptor) if depth > 0 or not _nests(field)]
    # A drawn subset rather than a coin per field: fewer draws for a type with a hundred fields.
    count = draw(st.integers(0, min(len(candidates), 40)))
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=count, max_size=count, unique=True)) if count else []
    for field in chosen:
        value_field = field.message_type.fields_by_name["value"] if _is_map(field) else field
        nested = value_field.message_type
        values = messages(nested, depth - 1, valid) if nested is not None else scalars(value_field)
        if field.is_extension:
            if field.is_repeated:
                message.Extensions[field].extend(draw(st.lists(values, max_size=2)))
            elif nested is not None:
                message.Extensions[field].CopyFrom(draw(values))
            else:
                message.Extensions[field] = draw(values)
        elif _is_map(field):
            container = getattr(message, field.name)
            for key in draw(st.lists(scalars(field.message_type.fields_by_name["key"]), max_size=3, unique=True)):
                if nested is not None:
                    container[key].CopyFrom(draw(values))
                else:
                    container[key] = draw(values)
        elif field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(values, max_size=3)))
        elif nested is not None:
            getattr(message, field.name).CopyFrom(draw(values))
        else:
            setattr(message, field.name, draw(values))
    return message  # type: ignore[no-any-return]


def _fields_of(descriptor: Descriptor) -> list[FieldDescriptor]:
    extensions = list(POOL.FindAllExtensions(descriptor)) if descriptor.extension_ranges else []
    return [*descriptor.fields, *extensions]


def _nests(field: FieldDescriptor) -> bool:
    """Whether a value of the field is a message other than a well-known type (those nest no further here)."""
    value_field = field.message_type.fields_by_name["value"] if _is_map(field) else field
    nested = value_field.message_type
    return nested is not None and nested.file.package != "google.protobuf"


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


PROPERTY = settings(derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("descriptor", CONTRACT_TYPES, ids=lambda d: d.full_name)
@settings(PROPERTY, max_examples=40)
@given(data=st.data())
def test_every_contract_type(descriptor: Descriptor, data: st.DataObject) -> None:
    assert_same(data.draw(messages(descriptor)))


@settings(PROPERTY, max_examples=250)
@given(message=messages(EVERYTHING))
def test_every_field_kind(message: Message) -> None:
    assert_same(message)


@settings(PROPERTY, max_examples=150)
@given(message=messages(LEGACY, depth=3))
def test_proto2_extensions_groups_closed_enums(message: Message) -> None:
    assert_same(message)


@pytest.mark.parametrize("descriptor, examples", [
    (EVERYTHING, 100), *((POOL.FindMessageTypeByName(f"google.protobuf.{name}"), 40) for name in
                         ["Timestamp", "Duration", "FieldMask", "Struct", "Value", "ListValue", "Any"]),
], ids=lambda p: p.full_name if isinstance(p, Descriptor) else None)
def test_values_json_format_refuses(descriptor: Descriptor, examples: int) -> None:
    @settings(PROPERTY, max_examples=examples)
    @given(message=messages(descriptor, depth=1, valid=False))
    def check(message: Message) -> None:
        assert_same(message)

    check()


@settings(PROPERTY, max_examples=400)
@given(seconds=st.integers(-62135596800, 253402300799), nanos=st.integers(0, 999_999_999),
       rounding=st.sampled_from([1, 1000, 1_000_000, 1_000_000_000]))
def test_timestamp_text(seconds: int, nanos: int, rounding: int) -> None:
    assert_same(timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos // rounding * rounding))


def test_contract_types_are_found() -> None:
    names = {d.full_name for d in CONTRACT_TYPES}
    assert {"postcardapp.postcard.v1.Postcard", "postcardapp.user.v1.GetMeResponse", "google.api.HttpBody",
            "google.protobuf.Timestamp", "google.protobuf.Any"} <= names


# Examples.

def test_get_postcard_and_list_responses() -> None:
    for message in (postcard_pb.GetPostcardResponse(postcard=postcard()),
                    postcard_pb.ListMyPostcardsResponse(postcards=summaries(5), next_page_token="n")):
        assert_same(message)
    assert message_json(postcard_pb.GetPostcardResponse(postcard=postcard_pb.Postcard(
        postcard_id="p", created_at=timestamp_pb2.Timestamp(seconds=1_767_225_600, nanos=123_000_000)))) == {
        "postcard": {"postcard_id": "p", "created_at": "2026-01-01T00:00:00.123Z"}}


def test_scalars() -> None:
    message = Everything(s_int64=-(2**63), s_uint64=2**64 - 1, s_int32=-(2**31), s_uint32=2**32 - 1, s_bool=True,
                         s_string="😀", s_bytes=b"\xfb\xff", s_double=-0.0, s_float=0.1, s_sfixed64=1, s_fixed32=5)
    assert_same(message)
    got = message_json(message)
    assert (got["s_int64"], got["s_uint64"], got["s_sfixed64"]) == ("-9223372036854775808", "18446744073709551615", "1")
    assert (got["s_int32"], got["s_uint32"], got["s_fixed32"]) == (-(2**31), 2**32 - 1, 5)
    assert got["s_bytes"] == "+/8="  # standard alphabet, padded
    assert got["s_float"] == 0.1  # the shortest float32 text, not 0.10000000149011612
    assert math.copysign(1, got["s_double"]) == -1  # -0.0 is populated in proto3 (its bits are not zero)
    assert "s_sint32" not in got  # zero: not populated


@pytest.mark.parametrize("value, text", [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")])
def test_non_finite_floats(value: float, text: str) -> None:
    message = Everything(s_double=value, s_float=value, r_double=[value, 1.5], r_float=[value])
    assert_same(message)
    assert message_json(message)["r_double"] == [text, 1.5]
    assert message_json(wrappers_pb2.FloatValue(value=value)) == text


def test_enums() -> None:
    message = Everything(color=1, o_color=0, r_color=[2, -3, 99], map_string_color={"a": 77, "b": 0})
    assert_same(message)
    got = message_json(message)
    assert got["color"] == EVERYTHING.file.enum_types_by_name["Color"].values_by_number[1].name
    assert (got["o_color"], got["r_color"], got["map_string_color"]) == (
        "COLOR_UNSPECIFIED", ["GREEN", "BLUE", 99], {"a": 77, "b": "COLOR_UNSPECIFIED"})
    assert message_json(struct_pb2.Value(null_value=0)) is None
    assert_same(Legacy(shade=2, shades=[1, 2], shade_map={"x": 1}))


def test_presence_oneof_and_optional() -> None:
    assert message_json(Everything()) == {}
    assert message_json(Everything(o_int32=0, o_string="", o_bool=False, o_double=0.0)) == {
        "o_int32": 0, "o_string": "", "o_bool": False, "o_double": 0.0}
    assert message_json(Everything(choice_string="")) == {"choice_string": ""}
    assert message_json(Everything(choice_string="a", choice_int64=0)) == {"choice_int64": "0"}
    assert message_json(Everything(nested={})) == {"nested": {}}
    assert_same(Legacy(count=7, name="anon"))  # proto2 defaults set explicitly are printed
    assert message_json(Legacy()) == {}


def test_maps() -> None:
    message = Everything(map_bool_string={True: "t", False: "f"}, map_int64_string={-(2**63): "min"},
                         map_uint64_string={2**64 - 1: "max"}, map_bool_nested={True: {"id": 3}},
                         map_string_bytes={"b": b"\x00"}, map_string_float={"f": 0.2},
                         map_string_timestamp={"t": timestamp_pb2.Timestamp(seconds=-1)},
                         map_uint32_int64_value={7: wrappers_pb2.Int64Value()})
    assert_same(message)
    got = message_json(message)
    assert got["map_bool_string"] == {"true": "t", "false": "f"}
    assert got["map_int64_string"] == {"-9223372036854775808": "min"}
    assert got["map_bool_nested"] == {"true": {"id": "3"}}
    assert got["map_string_timestamp"] == {"t": "1969-12-31T23:59:59Z"}
    assert got["map_uint32_int64_value"] == {"7": "0"}  # a wrapper prints its value even when default


def test_field_order_and_keyword_names() -> None:
    message = Everything(**{"from": 3, "None": "n", "s_string": "s", "r_int32": [1], "s_int32": 2})
    assert_same(message)
    got = message_json(message)
    numbers = {f.name: f.number for f in EVERYTHING.fields}
    assert list(got) == sorted(got, key=numbers.__getitem__)
    assert (got["from"], got["None"]) == (3, "n")


def test_extensions_among_fields() -> None:
    message = Legacy(count=1, tail="end", group={"a": 5})
    extensions = LEGACY.file.extensions_by_name
    message.Extensions[extensions["ext_int"]] = 9
    message.Extensions[extensions["ext_strings"]].append("x")
    message.Extensions[extensions["ext_next"]].name = "inner"
    assert_same(message)
    assert list(message_json(message)) == [
        "count", "group", "[encodertest.legacy.ext_int]", "[encodertest.legacy.ext_strings]",
        "[encodertest.legacy.ext_next]", "tail"]


@pytest.mark.parametrize("timestamp, text", [
    ((0, 0), "1970-01-01T00:00:00Z"),
    ((1, 10_000_000), "1970-01-01T00:00:01.010Z"),
    ((-1, 999_999_000), "1969-12-31T23:59:59.999999Z"),
    ((-62135596800, 1), "0001-01-01T00:00:00.000000001Z"),
    ((253402300799, 999_999_999), "9999-12-31T23:59:59.999999999Z"),
])
def test_timestamps(timestamp: tuple[int, int], text: str) -> None:
    message = timestamp_pb2.Timestamp(seconds=timestamp[0], nanos=timestamp[1])
    assert message_json(message) == text
    assert_same(Everything(timestamp=message, r_timestamp=[message, message]))


def test_other_well_known_types() -> None:
    struct = struct_pb2.Struct()
    struct.update({"a": [1.5, None, True, "s", {"b": []}], "c": {}})
    message = Everything(
        duration=duration_pb2.Duration(seconds=-1, nanos=-500), field_mask=field_mask_pb2.FieldMask(paths=["a_b.c_d"]),
        struct=struct, value=struct_pb2.Value(), list_value=struct_pb2.ListValue(), empty=empty_pb2.Empty(),
        w_int64value=wrappers_pb2.Int64Value(value=5), w_bytesvalue=wrappers_pb2.BytesValue(value=b"\x01"),
        w_boolvalue=wrappers_pb2.BoolValue(), w_stringvalue=wrappers_pb2.StringValue(value="s"),
    )
    assert_same(message)
    assert message_json(message) == {
        "duration": "-1.000000500s", "field_mask": "aB.cD", "struct": {"a": [1.5, None, True, "s", {"b": []}], "c": {}},
        "value": None, "list_value": [], "empty": {}, "w_int64value": "5", "w_bytesvalue": "AQ==",
        "w_boolvalue": False, "w_stringvalue": "s",
    }


def test_any_is_json_formats() -> None:
    packed = any_pb2.Any()
    packed.Pack(postcard_pb.PostcardSummary(postcard_id="p"))
    timestamp = any_pb2.Any()
    timestamp.Pack(timestamp_pb2.Timestamp(seconds=0))
    message = Everything(any=packed, r_any=[timestamp, any_pb2.Any()])
    assert_same(message)
    assert message_json(message) == {
        "any": {"@type": "type.googleapis.com/postcardapp.postcard.v1.PostcardSummary", "postcard_id": "p"},
        "r_any": [{"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "1970-01-01T00:00:00Z"}, {}],
    }


def _unknown_any() -> Message:
    return any_pb2.Any(type_url="type.googleapis.com/nowhere.Nothing")


@pytest.mark.parametrize("build, error", [
    (lambda: timestamp_pb2.Timestamp(seconds=253402300800), ValueError),
    (lambda: Everything(timestamp=timestamp_pb2.Timestamp(nanos=-1)), json_format.SerializeToJsonError),
    (lambda: Everything(r_timestamp=[{"seconds": -62135596801}]), json_format.SerializeToJsonError),
    (lambda: Everything(duration=duration_pb2.Duration(seconds=1, nanos=-1)), json_format.SerializeToJsonError),
    (lambda: duration_pb2.Duration(seconds=315576000001), ValueError),
    (lambda: struct_pb2.Value(number_value=math.nan), ValueError),
    (lambda: Everything(map_string_value={"v": struct_pb2.Value(number_value=math.inf)}),
     json_format.SerializeToJsonError),
    (lambda: Everything(field_mask=field_mask_pb2.FieldMask(paths=["aB"])), json_format.SerializeToJsonError),
    (lambda: field_mask_pb2.FieldMask(paths=["a_"]), ValueError),
    (_unknown_any, TypeError),
    (lambda: any_pb2.Any(type_url="type.googleapis.com/google.protobuf.Timestamp", value=b"\xff"), DecodeError),
    (lambda: Everything(any=_unknown_any()), TypeError),
])
def test_errors_are_json_formats(build: Callable[[], Message], error: type[Exception]) -> None:
    message = build()
    with pytest.raises(error):
        json_format.MessageToDict(message, preserving_proto_field_name=True)
    assert_same(message)
    with pytest.raises(Exception):  # noqa: B017 - the converters detect it themselves, not only the guard
        encoder._compiled(message.DESCRIPTOR)(message)


def test_encoders_are_compiled_once_and_recursive_types_work() -> None:
    encode = encoder_for(EVERYTHING)
    assert encoder_for(EVERYTHING) is encode
    deep = Everything(child={"child": {"child": {"s_int64": 1}}})
    assert encode(deep) == {"child": {"child": {"child": {"s_int64": "1"}}}}
