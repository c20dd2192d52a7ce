"""Protobuf message -> proto3 JSON value, by a converter compiled once per message type.

The reference is `json_format.MessageToDict(message, preserving_proto_field_name=True)` of the
installed protobuf: the result equals it (same keys, values and key order), which
tests/gateway/transcode/test_encoder.py checks over every contract type and a test type with
every field kind. MessageToDict decides again, for every field of every message it prints, what
kind of field it is; here that is decided once per descriptor, into a function of straight-line
code: per field one read, one presence test and, where the JSON value differs from the Python
one, one precomputed converter. About three times faster on our responses.

json_format's rules, mirrored:

- Populated fields only, in field number order (ListFields' order); implicit-presence fields
  count as populated when not zero, and `-0.0` counts (upb compares the bits).
- 64-bit integers as strings, 32-bit ones as numbers; bytes as padded standard base64;
  float and double NaN / Infinity / -Infinity as strings, a float as json_format's
  shortest round-trip value (its own `type_checkers.ToShortestFloat`).
- Enums by name (the `pb.enumvalue.json` option's string where set), an unknown number as
  itself in an open enum and an error in a closed one; NullValue as null.
- Map keys as strings (bools "true"/"false"); extensions as "[full.name]" (a message with
  extension ranges is printed from ListFields, which lists its extensions in order).
- Timestamp (formatted here: it is in most responses), Duration and FieldMask (their own
  `ToJsonString`, which is what json_format calls), Struct, Value, ListValue, the wrappers, Empty.

Delegated to json_format itself: `google.protobuf.Any` (resolving the type URL and printing
the packed message is its work, and Any is rare: of our responses only google.api.HttpBody
holds one, and an HttpBody is sent as its raw bytes).

Errors: where json_format raises (a Timestamp or Duration out of range, NaN in a Value, an
invalid FieldMask path, an Any of an unknown type, an unknown number in a closed enum) a
converter raises too, and the encoder then prints the message again with json_format so that
its own exception, type and text, is the one the caller sees. The same second pass makes any
converter failure where json_format would succeed return json_format's answer.
"""
from __future__ import annotations

import binascii
import datetime
import keyword
import math
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

# Message -> its JSON value: a dict, except for the well-known types printed as strings, lists or null.
Encode = Callable[[Message], Any]
# A field's Python value -> its JSON value.
Convert = Callable[[Any], Any]

_lock = threading.Lock()  # compilation only; encoding takes no lock
_unguarded: dict[Descriptor, Encode] = {}  # what nested messages call: errors propagate to the top
_guarded: dict[Descriptor, Encode] = {}  # what callers get: json_format's own errors


def encoder_for(descriptor: Descriptor) -> Encode:
    """The encoder of messages of `descriptor`, compiled on the first call together with every type it contains
    (route plans ask at start-up, so that no request pays for it)."""
    encode = _guarded.get(descriptor)
    if encode is None:
        encode = _guarded.setdefault(descriptor, _guard(_compiled(descriptor)))
    return encode


def message_json(message: Message) -> Any:
    """`json_format.MessageToDict(message, preserving_proto_field_name=True)`, equal and faster."""
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]  # upb's, an instance of it
    encode = _guarded.get(descriptor) or encoder_for(descriptor)
    return encode(message)


def _guard(unguarded: Encode) -> Encode:
    def encode(message: Message) -> Any:
        try:
            return unguarded(message)
        except Exception:
            # A value json_format refuses to print: it raises its own error here.
            return json_format.MessageToDict(message, preserving_proto_field_name=True)

    return encode


def _compiled(descriptor: Descriptor) -> Encode:
    """The unguarded encoder of `descriptor`. The types it reaches are compiled with it and published together, so no
    other thread can find an encoder whose nested converters are not set yet."""
    encode = _unguarded.get(descriptor)
    if encode is None:
        with _lock:
            building: dict[Descriptor, Encode] = {}
            encode = _build(descriptor, building)
            _unguarded.update(building)
    return encode


def _build(descriptor: Descriptor, building: dict[Descriptor, Encode]) -> Encode:
    encode = _unguarded.get(descriptor) or building.get(descriptor)
    if encode is None:
        # json_format's dispatch: the wrappers by their file, the other well-known types by full name.
        if descriptor.file.name == "google/protobuf/wrappers.proto":
            encode = _wrapper(descriptor.fields_by_name["value"], building)
        elif descriptor.full_name in _WELL_KNOWN:
            encode = _WELL_KNOWN[descriptor.full_name]
        elif descriptor.extension_ranges:
            encode = _listed(descriptor, building)
        else:
            encode = _generated(descriptor, building)
        building[descriptor] = encode
    return encode


def _generated(descriptor: Descriptor, building: dict[Descriptor, Encode]) -> Encode:
    """Straight-line code, as exec'd source: reading the fields one by one is cheaper than ListFields building
    (descriptor, value) pairs, and a loop over per-field steps would cost a call and a branch more per field."""
    fields = sorted(descriptor.fields, key=lambda field: field.number)
    lines = ["def encode(m):", "    js = {}"]
    for index, field in enumerate(fields):
        name = field.name
        # upb resolves fields before methods, so m.<name> is the field whatever its name; keywords need getattr.
        read = f"m.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f"getattr(m, {name!r})"
        if field.has_presence:
            lines += [f"    if m.HasField({name!r}):", f"        v = {read}"]
        elif field.cpp_type in _FLOATING and not field.is_repeated:
            lines += [f"    v = {read}", "    if v or copysign(1.0, v) < 0:"]  # upb lists -0.0: its bits are not 0
        else:
            lines += [f"    v = {read}", "    if v:"]  # not zero, not empty
        lines.append(f"        js[{name!r}] = {'v' if _as_is(field) and not field.is_repeated else f'c{index}(v)'}")
    lines.append("    return js")
    namespace: dict[str, Any] = {"copysign": math.copysign}
    exec("\n".join(lines), namespace)
    encode: Encode = namespace["encode"]
    # Registered before the converters are compiled, which look it up: a message type may contain itself.
    building[descriptor] = encode
    for index, field in enumerate(fields):
        namespace[f"c{index}"] = _field_converter(field, building)
    return encode


def _listed(descriptor: Descriptor, building: dict[Descriptor, Encode]) -> Encode:
    """For messages with extensions: ListFields yields them among the fields in json_format's order."""
    steps: dict[FieldDescriptor, tuple[str, Convert | None]] = {}

    def encode(message: Message) -> dict[str, Any]:
        js = {}
        for field, value in message.ListFields():
            step = steps.get(field)
            if step is None:  # an extension, seen for the first time
                step = steps[field] = _late_step(field)
            name, convert = step
            js[name] = value if convert is None else convert(value)
        return js

    building[descriptor] = encode
    for field in descriptor.fields:
        steps[field] = (field.name, _field_converter(field, building))
    return encode


def _late_step(field: FieldDescriptor) -> tuple[str, Convert | None]:
    with _lock:
        building: dict[Descriptor, Encode] = {}
        convert = _field_converter(field, building)
        _unguarded.update(building)
    return f"[{field.full_name}]" if field.is_extension else field.name, convert


def _field_converter(field: FieldDescriptor, building: dict[Descriptor, Encode]) -> Convert | None:
    """A populated field's value (a map, a list or one value) -> its JSON value; None: the value as it is."""
    entry = field.message_type
    if entry is not None and field.type == FieldDescriptor.TYPE_MESSAGE and entry.GetOptions().map_entry:
        bool_keys = entry.fields_by_name["key"].type == FieldDescriptor.TYPE_BOOL
        return _map(bool_keys, _value_converter(entry.fields_by_name["value"], building))
    convert = _value_converter(field, building)
    if field.is_repeated:
        return list if convert is None else _repeated(convert)
    return convert


def _repeated(convert: Convert) -> Convert:
    return lambda values: [convert(value) for value in values]


def _map(bool_keys: bool, convert: Convert | None) -> Convert:
    if bool_keys:
        if convert is None:
            return lambda entries: {("true" if k else "false"): v for k, v in entries.items()}
        return lambda entries: {("true" if k else "false"): convert(v) for k, v in entries.items()}
    if convert is None:
        return lambda entries: {str(k): v for k, v in entries.items()}
    return lambda entries: {str(k): convert(v) for k, v in entries.items()}


def _value_converter(field: FieldDescriptor, building: dict[Descriptor, Encode]) -> Convert | None:
    """json_format's `_FieldToJsonObject` for this field, decided once; None where it is the value as it is."""
    if _as_is(field):
        return None
    if field.message_type is not None:  # messages and groups
        return _build(field.message_type, building)
    if field.enum_type is not None:
        return _enum(field.enum_type)
    cpp_type = field.cpp_type
    if cpp_type == FieldDescriptor.CPPTYPE_STRING:  # bytes
        return _bytes
    if cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp_type == FieldDescriptor.CPPTYPE_FLOAT:
        return _float
    return str  # 64-bit integers


_AS_IS = frozenset((
    FieldDescriptor.CPPTYPE_STRING,
    FieldDescriptor.CPPTYPE_BOOL,
    FieldDescriptor.CPPTYPE_INT32,
    FieldDescriptor.CPPTYPE_UINT32,
))
_FLOATING = frozenset((FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE))


def _as_is(field: FieldDescriptor) -> bool:
    """Whether json_format prints this field's values as they are: strings, bools, 32-bit integers."""
    return field.cpp_type in _AS_IS and field.type != FieldDescriptor.TYPE_BYTES


def _bytes(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")  # = base64.b64encode(value).decode()


def _double(value: float) -> float | str:
    if value - value == 0.0:  # finite: inf - inf and NaN - NaN are NaN
        return value
    return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"


def _float(value: float) -> float | str:
    if value - value == 0.0:
        return type_checkers.ToShortestFloat(value)
    return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"


def _enum(enum_type: EnumDescriptor) -> Convert:
    if enum_type.full_name == "google.protobuf.NullValue":
        return lambda value: None
    option = _enum_value_json_option()
    names: dict[int, str] = {}
    by_number = enum_type.values_by_number
    for number in by_number:
        value = by_number[number]  # with aliases, the one json_format's lookup finds (items() yields them all)
        options = value.GetOptions()
        custom = option is not None and options.HasExtension(option)  # type: ignore[arg-type]
        names[number] = options.Extensions[option].string if custom else value.name  # type: ignore[index]
    closed = enum_type.is_closed

    def convert(value: int) -> str | int:
        name = names.get(value)
        if name is not None:
            return name
        if closed:
            raise json_format.SerializeToJsonError("an unknown number in a closed enum")
        return value

    return convert


def _enum_value_json_option() -> FieldDescriptor | None:
    """The `pb.enumvalue.json` extension (an enum value's JSON name), when loaded. json_format looks it up in the
    default pool on each print; once per enum type is the same, as an enum value of that pool can carry the option
    only once the file declaring it is in the pool, and the pool never forgets."""
    try:
        return descriptor_pool.Default().FindExtensionByName("pb.enumvalue.json")
    except KeyError:
        return None


def _wrapper(value_field: FieldDescriptor, building: dict[Descriptor, Encode]) -> Encode:
    # A wrapper prints as its `value`, even the default one.
    convert = _value_converter(value_field, building)
    if convert is None:
        return lambda message: message.value  # type: ignore[attr-defined]
    return lambda message: convert(message.value)  # type: ignore[attr-defined]


_TIMESTAMP_SECONDS_MIN = -62135596800  # 0001-01-01T00:00:00Z
_TIMESTAMP_SECONDS_MAX = 253402300799  # 9999-12-31T23:59:59Z
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_date = datetime.date.fromordinal
# Day number -> "YYYY-MM-DD": most timestamps of a response fall on a few days. Bounded by clearing.
_days: dict[int, str] = {}
# "THH:MM:" by minute of the day and "SS" by second: indexing and joining is a quarter of %-formatting's cost.
_CLOCK = tuple(f"T{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60))
_SECONDS = tuple(f"{second:02d}" for second in range(60))


def _timestamp(message: Any) -> str:
    """Timestamp.ToJsonString (RFC 3339 in UTC, with 0, 3, 6 or 9 fractional digits) without its datetime
    arithmetic, which is half its cost."""
    seconds, nanos = message.seconds, message.nanos
    if not (_TIMESTAMP_SECONDS_MIN <= seconds <= _TIMESTAMP_SECONDS_MAX and 0 <= nanos < 1_000_000_000):
        raise ValueError("Timestamp out of range")  # the guard has json_format raise its own error
    days, second = divmod(seconds, 86400)
    day = _days.get(days)
    if day is None:
        if len(_days) >= 4096:
            _days.clear()
        day = _days[days] = _date(_EPOCH_ORDINAL + days).isoformat()
    text = f"{day}{_CLOCK[second // 60]}{_SECONDS[second % 60]}"
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1000 == 0:
        return f"{text}.{nanos // 1000:06d}Z"
    return f"{text}.{nanos:09d}Z"


def _to_json_string(message: Any) -> str:
    return message.ToJsonString()  # type: ignore[no-any-return]


def _value(message: Any) -> Any:
    kind = message.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        number = message.number_value
        if number - number != 0.0:
            raise ValueError("Value.number_value is not finite")  # the guard has json_format raise its own error
        return number
    if kind == "struct_value":
        return _struct(message.struct_value)
    if kind == "list_value":
        return _list_value(message.list_value)
    return getattr(message, kind)  # string_value, bool_value


def _struct(message: Any) -> dict[str, Any]:
    return {key: _value(value) for key, value in message.fields.items()}


def _list_value(message: Any) -> list[Any]:
    return [_value(value) for value in message.values]


def _any(message: Message) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


_WELL_KNOWN: dict[str, Encode] = {
    "google.protobuf.Any": _any,
    "google.protobuf.Timestamp": _timestamp,
    "google.protobuf.Duration": _to_json_string,
    "google.protobuf.FieldMask": _to_json_string,
    "google.protobuf.Struct": _struct,
    "google.protobuf.Value": _value,
    "google.protobuf.ListValue": _list_value,
}
