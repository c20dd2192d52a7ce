"""Typed setters for fields addressed by path variables and query parameters.

A setter is built once per (route, field path) at start-up; per request it
only converts one string and assigns it. A value that does not fit the
field's type is a 400 naming the field.
"""
from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ..errors import invalid_argument
from .json_errors import problem_of
from .wellknown import WRAPPER_TYPES

Converter = Callable[[str], Any]

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_TRUE = frozenset({"true", "1", "t"})
_FALSE = frozenset({"false", "0", "f"})


class ConversionError(ValueError):
    pass


def _int_converter(field: FieldDescriptor) -> Converter:
    low, high = _INT_RANGES[field.type]

    def convert(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise ConversionError("not an integer") from None
        if not low <= value <= high:
            raise ConversionError("integer out of range")
        return value

    return convert


_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}  # proto3 JSON spellings


def _float(text: str) -> float:
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    try:
        return float(text)
    except ValueError:
        raise ConversionError("not a number") from None


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConversionError("not a boolean (true or false)")


def _bytes(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ConversionError("not base64") from None


def _enum_converter(field: FieldDescriptor) -> Converter:
    enum = field.enum_type
    assert enum is not None  # an enum field
    by_name = {value.name: value.number for value in enum.values}
    numbers = set(by_name.values())

    def convert(text: str) -> int:
        if text in by_name:
            return by_name[text]
        try:
            number = int(text)
        except ValueError:
            number = None
        if number is None or number not in numbers:
            raise ConversionError("not a known enum value")
        return number

    return convert


def scalar_converter(field: FieldDescriptor) -> Converter:
    """String -> Python value for a scalar or enum field."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return str
    if kind in _INT_RANGES:
        return _int_converter(field)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _float
    if kind == FieldDescriptor.TYPE_BOOL:
        return _bool
    if kind == FieldDescriptor.TYPE_BYTES:
        return _bytes
    if kind == FieldDescriptor.TYPE_ENUM:
        return _enum_converter(field)
    raise TypeError(f"{field.full_name} is not a scalar field")


@dataclass(frozen=True, slots=True)
class FieldSetter:
    """Assigns a string value to one (possibly nested) field of a request message."""

    dotted: str
    parents: tuple[str, ...]
    name: str
    repeated: bool
    apply: Callable[[Message, str, str, bool], None]

    def set(self, message: Message, text: str) -> None:
        target = message
        for parent in self.parents:
            target = getattr(target, parent)  # reading a sub-message field creates it on write
        try:
            self.apply(target, self.name, text, self.repeated)
        except ConversionError as exc:
            raise invalid_argument(f'invalid value for field "{self.dotted}": {exc}') from None
        except ValueError as exc:  # from a well-known type's FromJsonString: protobuf's words, not ours
            problem = problem_of(str(exc)) or "invalid value"
            raise invalid_argument(f'invalid value for field "{self.dotted}": {problem}') from None


def build_setter(root: Descriptor, field_path: tuple[str, ...]) -> FieldSetter:
    """A setter for `field_path` of `root`; the path must end at a field `is_settable_from_string` accepts."""
    message = root
    field: FieldDescriptor | None = None
    for name in field_path:
        field = message.fields_by_name[name]
        if field.message_type is not None:
            message = field.message_type
    assert field is not None
    return FieldSetter(".".join(field_path), field_path[:-1], field_path[-1], field.is_repeated, _applier(field))


def _applier(field: FieldDescriptor) -> Callable[[Message, str, str, bool], None]:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        convert = scalar_converter(field)

        def apply_scalar(target: Message, name: str, text: str, repeated: bool) -> None:
            if repeated:
                getattr(target, name).append(convert(text))
            else:
                setattr(target, name, convert(text))

        return apply_scalar
    message = field.message_type
    assert message is not None  # a message field
    if message.full_name in WRAPPER_TYPES:
        convert = scalar_converter(message.fields_by_name["value"])

        def apply_wrapper(target: Message, name: str, text: str, repeated: bool) -> None:
            holder = getattr(target, name).add() if repeated else getattr(target, name)
            holder.value = convert(text)

        return apply_wrapper

    def apply_string_form(target: Message, name: str, text: str, repeated: bool) -> None:
        holder = getattr(target, name).add() if repeated else getattr(target, name)
        holder.FromJsonString(text)

    return apply_string_form
