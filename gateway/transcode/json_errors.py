"""protobuf's JSON parse errors in the API's terms: a field path and what is wrong, no type names.

json_format's messages quote full protobuf type names (`Message type "postcardapp.postcard.v1.
CreatePostcardRequest" has no field named "user_id"`), Python internals (`expected string or
bytes-like object, got 'int'`) and the fields of the message. A client gets instead

    unknown field "filter.foo"
    invalid value for field "filter.min_size": not an integer

The path is read from the exception chain json_format builds (each level wraps the one below
as `Failed to parse <name> field: <inner>.`, and scalar errors end with ` at <Type>.<path>`),
matched so that client text inside a message (a key with quotes) cannot move it. What is
wrong is one of a fixed set of phrases chosen by json_format's deepest message; anything
unrecognised says only which field is invalid.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from google.protobuf import json_format

_UNKNOWN_FIELD = re.compile(
    r'Message type "[^"]*" has no field named "(?P<name>.*)" at "(?P<at>[^"]*)"\.\n Available Fields', re.DOTALL
)
_MAX_PATH_CHARS = 200

# Innermost message fragment -> what is wrong, first match wins.
_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("Value out of range", "integer out of range"),
    ("too large", "number out of range"),
    ("too small", "number out of range"),
    ("integer", "not an integer"),  # "Couldn't parse integer", a bool for an integer
    ("int()", "not an integer"),
    ("float", "not a number"),
    ("Expected true or false", "not a boolean (true or false)"),
    ("expected string or bytes-like object", "not a string"),
    ("Invalid enum value", "not a known enum value"),
    ("imestamp", "not an RFC 3339 timestamp such as 2024-01-31T08:00:00Z"),
    ("uration", "not a duration such as 1.5s"),
    ("must be in []", "not an array"),
    ("must be in a dict", "not an object"),
    ("object is not iterable", "not an object"),
    ("null is not allowed", "null is not allowed in an array"),
    ("Unpaired surrogate", "not valid Unicode (unpaired surrogate)"),
    ("base64", "not base64"),
    ("padding", "not base64"),
    ("oneof", "sets more than one field of a oneof"),
)


def describe_parse_error(error: Exception, document: Any) -> str:
    """A client-facing message for json_format's `error` raised while parsing `document`."""
    chain = list(_causes(error))
    # json_format's own deepest message (it quotes a Python error below it, if any, that caused it).
    innermost = str(next((e for e in reversed(chain) if isinstance(e, json_format.ParseError)), chain[-1]))
    if "Message too deep" in innermost:
        return "request body is nested too deeply"
    unknown = next((m for m in (_UNKNOWN_FIELD.match(str(e)) for e in chain) if m), None)
    if unknown is not None:
        parent = _strip_root(unknown["at"])
        if not isinstance(_json_at(document, parent), dict):
            return _invalid(parent, "not an object")  # json_format iterates a string's characters as keys
        return f'unknown field "{_clip(_join(parent, unknown["name"]))}"'
    path = _scalar_path(chain)
    if path is None:
        path = ".".join(_wrapped_names(chain))
    non_object = _first_non_object(document, path)
    if non_object is not None:
        return _invalid(non_object, "not an object")
    problem = problem_of(innermost)
    if not path:
        return f"invalid request body: {problem}" if problem else "invalid request body"
    return _invalid(path, problem)


def problem_of(message: str) -> str | None:
    """What is wrong, in a fixed phrase, for a protobuf conversion error message; None if unknown."""
    return next((text for fragment, text in _PROBLEMS if fragment in message), None)


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__


def _scalar_path(chain: list[BaseException]) -> str | None:
    """The path of `<inner> at <Type>.<path>`, the form scalar and well-known-type errors take."""
    for outer, inner in pairwise(chain):
        prefix = f"{inner} at "
        text = str(outer)
        if text.startswith(prefix) and text != str(inner):
            return _strip_root(text[len(prefix) :])
    return None


def _wrapped_names(chain: list[BaseException]) -> Iterator[str]:
    """Field names of the `Failed to parse <name> field: <inner>.` levels, outermost first."""
    for outer, inner in pairwise(chain):
        text, suffix = str(outer), f" field: {inner}."
        if text.startswith("Failed to parse ") and text.endswith(suffix):
            yield text[len("Failed to parse ") : len(text) - len(suffix)]


def _strip_root(path: str) -> str:
    """`CreatePostcardRequest.item.foo` -> `item.foo`: the root is the message's type name."""
    root = re.match(r"[^.\[]*\.?", path)
    return path[root.end() :] if root else path


def _path_segments(path: str) -> list[str | int]:
    segments: list[str | int] = []
    for part in path.split(".") if path else ():
        name, *indexes = part.split("[")
        segments.append(name)
        segments.extend(int(index.rstrip("]")) for index in indexes if index.rstrip("]").isdigit())
    return segments


def _json_at(document: Any, path: str) -> Any:
    """The JSON value at a field path, or None when the path does not lead anywhere."""
    value = document
    for segment in _path_segments(path):
        if isinstance(segment, int) and isinstance(value, list) and segment < len(value):
            value = value[segment]
        elif isinstance(segment, str) and isinstance(value, dict):
            value = value.get(segment)
        else:
            return None
    return value


def _first_non_object(document: Any, path: str) -> str | None:
    """The first proper prefix of `path` whose JSON value is not an object (a message field given a
    string or an array): json_format reports it as an error in a field below it."""
    names = path.split(".") if path else []
    for depth in range(1, len(names)):
        prefix = ".".join(names[:depth])
        value = _json_at(document, prefix)
        if value is not None and not isinstance(value, dict) and not prefix.endswith("]"):
            return prefix
    return None


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _clip(path: str) -> str:
    return path if len(path) <= _MAX_PATH_CHARS else path[: _MAX_PATH_CHARS - 1] + "…"


def _invalid(path: str, problem: str | None) -> str:
    field = f'invalid value for field "{_clip(path)}"'
    return f"{field}: {problem}" if problem else field
