"""The protobuf types the HTTP mapping treats specially, named once for transcoding and for the OpenAPI.

- `google.api.HttpBody`: a response sent as raw bytes with its own content type, not as JSON;
- well-known types with a one-string JSON form (Timestamp, Duration, FieldMask) and the wrappers
  (a scalar): settable from a path variable or a query parameter, like scalars and enums.
"""
from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor

HTTP_BODY = "google.api.HttpBody"
STRING_FORM_TYPES = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"})
WRAPPER_TYPES = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
# Nested messages are reachable from the query string down to this depth of field path (a.b.c).
QUERY_DEPTH = 3


def is_settable_from_string(field: FieldDescriptor) -> bool:
    """Scalars, enums, and well-known types with a string or scalar form; never a map or another message."""
    message = field.message_type
    if field.type != FieldDescriptor.TYPE_MESSAGE or message is None:
        return True
    return not message.GetOptions().map_entry and (message.full_name in STRING_FORM_TYPES or
                                                   message.full_name in WRAPPER_TYPES)
