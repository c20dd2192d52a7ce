"""The contract's `buf.validate` rules as JSON Schema keywords: the document states what the gateway enforces.

The validate stage checks every request against these rules (`contractrules`); publishing them
lets a client, or a fuzzer generating valid data from the document, meet them before sending.

Published, where JSON Schema can say exactly the same:

- `required`: the member is listed as required (a query parameter is `required: true`), and a
  string is `minLength: 1`, a repeated field `minItems: 1`, another scalar not its zero value;
- strings: `const`, `len`/`min_len`/`max_len` (both count characters, i.e. code points),
  `pattern`, `in`/`not_in`, and `uuid`, `email`, `hostname`, `ipv4`, `ipv6`, `uri`, `uri_ref` as
  `format`;
- 32-bit integers: `const`, `gt`/`gte`/`lt`/`lte` (not an exclusive range, where gt >= lt),
  `in`/`not_in`; enums: `const`, `in`, `not_in` (`defined_only` is what the enum's schema says);
- repeated fields: `min_items`, `max_items`, `unique`, and their items' rules; maps: `min_pairs`,
  `max_pairs`;
- `ignore: IGNORE_IF_ZERO_VALUE` as "the zero value, or a value keeping the rules"; nothing for
  `IGNORE_ALWAYS`.

Not published (still enforced): CEL rules, byte lengths, prefix/suffix/contains, the other string
formats, and bounds of 64-bit integers (JSON strings), floats, durations and timestamps. A
`pattern` is protovalidate's (RE2): the patterns in our contracts keep to the syntax RE2 and ECMA-262
read alike (anchors, classes, ranges, `\\xHH` escapes and literal characters).
"""
from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from buf.validate import validate_pb2

Schema = dict[str, Any]

_F = FieldDescriptor
# Integer types whose JSON form is a number; 64-bit integers are decimal strings.
_INTEGERS_32 = {"int32", "uint32", "sint32", "fixed32", "sfixed32"}
_FORMATS = {"uuid": "uuid", "email": "email", "hostname": "hostname", "ipv4": "ipv4", "ipv6": "ipv6",
            "uri": "uri", "uri_ref": "uri-reference"}


def field_rules(field: FieldDescriptor) -> validate_pb2.FieldRules | None:
    options = field.GetOptions()
    # The generated stub types an extension as a plain FieldDescriptor.
    if not options.HasExtension(validate_pb2.field):  # type: ignore[arg-type]
        return None
    rules: validate_pb2.FieldRules = options.Extensions[validate_pb2.field]  # type: ignore[index]
    return rules


def is_required(field: FieldDescriptor) -> bool:
    rules = field_rules(field)
    return rules is not None and rules.required


def constrain(schema: Schema, field: FieldDescriptor) -> Schema:
    """`schema` (the field's schema in a request) with the field's rules added; modified in place."""
    rules = field_rules(field)
    if rules is None or rules.ignore == validate_pb2.IGNORE_ALWAYS:
        return schema
    if field.is_repeated and "items" in schema:  # a repeated field (a map's schema has no `items`)
        if rules.required:
            _tighten(schema, "minItems", 1, max)
        if rules.HasField("repeated"):
            repeated = rules.repeated
            if repeated.HasField("min_items"):
                _tighten(schema, "minItems", repeated.min_items, max)
            if repeated.HasField("max_items"):
                _tighten(schema, "maxItems", repeated.max_items, min)
            if repeated.unique:
                schema["uniqueItems"] = True
            _constrain_value(schema["items"], repeated.items, field)
        return schema
    if field.is_repeated:  # a map
        if rules.HasField("map"):
            if rules.map.HasField("min_pairs"):
                _tighten(schema, "minProperties", rules.map.min_pairs, max)
            if rules.map.HasField("max_pairs"):
                _tighten(schema, "maxProperties", rules.map.max_pairs, min)
        return schema
    return _constrain_value(schema, rules, field)


def _constrain_value(schema: Schema, rules: validate_pb2.FieldRules, field: FieldDescriptor) -> Schema:
    """The rules of one value (a singular field, or an element of a repeated one)."""
    kind = rules.WhichOneof("type")
    keywords: Schema = {}
    if kind == "string":
        keywords = _string(rules.string)
    elif kind in _INTEGERS_32:
        keywords = _number(getattr(rules, kind))
    elif kind == "enum":
        keywords = _enum(rules.enum, field)
    if rules.required and field.message_type is None:  # proto3 implicit presence: the zero value is "absent"
        if field.type in (_F.TYPE_STRING, _F.TYPE_BYTES):
            keywords["minLength"] = max(keywords.get("minLength", 0), 1)
        else:
            keywords["not"] = {"enum": [*keywords.get("not", {}).get("enum", []), _zero(field)]}
    if not keywords:
        return schema
    if rules.ignore == validate_pb2.IGNORE_IF_ZERO_VALUE and field.message_type is None:
        schema["anyOf"] = [{"const": _zero(field)}, keywords]
        return schema
    for name, value in keywords.items():
        if name in ("minimum", "minLength"):
            _tighten(schema, name, value, max)
        elif name in ("maximum", "maxLength"):
            _tighten(schema, name, value, min)
        else:
            schema[name] = value
    return schema


def _string(rules: validate_pb2.StringRules) -> Schema:
    keywords: Schema = {}
    if rules.HasField("const"):
        keywords["const"] = rules.const
    if rules.HasField("len"):
        keywords["minLength"] = keywords["maxLength"] = rules.len
    if rules.HasField("min_len"):
        keywords["minLength"] = rules.min_len
    if rules.HasField("max_len"):
        keywords["maxLength"] = rules.max_len
    if rules.HasField("pattern"):
        keywords["pattern"] = rules.pattern
    _in_not_in(keywords, list(getattr(rules, "in")), list(rules.not_in))
    well_known = rules.WhichOneof("well_known")
    if well_known in _FORMATS and getattr(rules, well_known):
        keywords["format"] = _FORMATS[well_known]
    return keywords


def _number(rules: Any) -> Schema:
    """Int32Rules, UInt32Rules, ...: they share their fields."""
    keywords: Schema = {}
    if rules.HasField("const"):
        keywords["const"] = rules.const
    upper, lower = rules.WhichOneof("less_than"), rules.WhichOneof("greater_than")
    # gt >= lt means "outside [lt, gt]", which is not one range: left unpublished.
    exclusive_range = upper and lower and getattr(rules, lower) >= getattr(rules, upper)
    if upper and not exclusive_range:
        keywords["maximum" if upper == "lte" else "exclusiveMaximum"] = getattr(rules, upper)
    if lower and not exclusive_range:
        keywords["minimum" if lower == "gte" else "exclusiveMinimum"] = getattr(rules, lower)
    _in_not_in(keywords, list(getattr(rules, "in")), list(rules.not_in))
    return keywords


def _enum(rules: validate_pb2.EnumRules, field: FieldDescriptor) -> Schema:
    assert field.enum_type is not None
    names = field.enum_type.values_by_number
    keywords: Schema = {}
    if rules.HasField("const"):
        keywords["const"] = names[rules.const].name if rules.const in names else rules.const
    _in_not_in(keywords, [names[n].name for n in getattr(rules, "in") if n in names],
               [names[n].name for n in rules.not_in if n in names])
    return keywords


def _in_not_in(keywords: Schema, allowed: list[Any], refused: list[Any]) -> None:
    if allowed:
        keywords["enum"] = allowed
    if refused:
        keywords["not"] = {"enum": refused}


def _zero(field: FieldDescriptor) -> Any:
    if field.enum_type is not None:
        return field.enum_type.values_by_number[0].name if 0 in field.enum_type.values_by_number else 0
    return "" if field.type in (_F.TYPE_STRING, _F.TYPE_BYTES) else field.default_value


def _tighten(schema: Schema, name: str, value: int, pick: Any) -> None:
    """Set a bound, keeping the tighter of the type's own and the rule's."""
    schema[name] = pick(schema[name], value) if name in schema else value
