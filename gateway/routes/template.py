"""google.api.http path templates: parsing and matching.

Grammar (google/api/http.proto):

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

`{name}` is `{name=*}`. A template compiles to a flat list of segment kinds plus
the spans that variables cover, so matching is a single walk over the request's
path segments. `**` may only be the last segment.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import unquote

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LITERAL = re.compile(r"^[A-Za-z0-9\-._~!$&'()+,;=@]+$")


class TemplateError(ValueError):
    """A path template that does not follow the google.api.http grammar."""


class Kind(IntEnum):
    # The order is the precedence: a literal beats a variable, whatever the order of declaration.
    LITERAL = 0
    ANY = 1  # "*": exactly one segment
    DEEP = 2  # "**": the rest of the path, one segment or more


@dataclass(frozen=True, slots=True)
class Variable:
    field_path: tuple[str, ...]
    start: int  # index of its first segment
    end: int  # index after its last segment (DEEP: to the end of the path)


@dataclass(frozen=True, slots=True)
class PathTemplate:
    source: str
    kinds: tuple[Kind, ...]
    literals: tuple[str, ...]  # the literal per segment ("" for wildcards)
    variables: tuple[Variable, ...]
    verb: str

    @property
    def shape(self) -> tuple[tuple[Kind, str], ...]:
        """What two templates must share to collide: segment kinds, literals and the verb."""
        return (*zip(self.kinds, self.literals, strict=True), (Kind.LITERAL, ":" + self.verb))

    @property
    def precedence(self) -> tuple[int, ...]:
        """Sort key: more specific templates first (literals before wildcards, segment by segment)."""
        return (*self.kinds, -len(self.kinds))

    def openapi_path(self) -> str:
        """The template in OpenAPI form: `/v1/{name}`; a multi-segment variable still shows as one parameter."""
        parts: list[str] = []
        index = 0
        for variable in self.variables:
            parts.extend(self._segment_text(i) for i in range(index, variable.start))
            parts.append("{" + ".".join(variable.field_path) + "}")
            index = variable.end
        parts.extend(self._segment_text(i) for i in range(index, len(self.kinds)))
        path = "/" + "/".join(parts)
        return path + (":" + self.verb if self.verb else "")

    def _segment_text(self, index: int) -> str:
        kind = self.kinds[index]
        return self.literals[index] if kind is Kind.LITERAL else ("*" if kind is Kind.ANY else "**")

    def may_match(self, length: int) -> bool:
        """Whether a path of `length` segments has the number this template needs."""
        n = len(self.kinds)
        return length >= n if self.kinds and self.kinds[-1] is Kind.DEEP else length == n

    def match(self, segments: list[str]) -> dict[tuple[str, ...], str] | None:
        """Match percent-encoded path segments (verb already split off); return decoded variable values.

        A variable covering several segments gets them joined by "/" (each segment
        decoded on its own, so an encoded "%2F" inside one segment stays distinct
        only for single-segment variables).
        """
        kinds = self.kinds
        n = len(kinds)
        if kinds and kinds[-1] is Kind.DEEP:
            if len(segments) < n:
                return None
        elif len(segments) != n:
            return None
        literals = self.literals
        for i in range(n):
            kind = kinds[i]
            if kind is Kind.LITERAL:
                if segments[i] != literals[i]:
                    return None
            elif kind is Kind.ANY:
                if not segments[i]:
                    return None
            elif not all(segments[i:]):
                return None
        values: dict[tuple[str, ...], str] = {}
        for variable in self.variables:
            end = len(segments) if variable.end == n and kinds[-1] is Kind.DEEP else variable.end
            values[variable.field_path] = "/".join(unquote(s) for s in segments[variable.start : end])
        return values


def parse_template(source: str) -> PathTemplate:
    """Parse a google.api.http path template; raise TemplateError naming what is wrong."""
    if not source.startswith("/"):
        raise TemplateError(f"path template {source!r} must start with '/'")
    body, verb = _split_verb(source)
    kinds: list[Kind] = []
    literals: list[str] = []
    variables: list[Variable] = []
    for token in _tokens(body[1:], source):
        if token.startswith("{"):
            inner = token[1:-1]
            field, _, sub = inner.partition("=")
            if not _IDENT.match(field):
                raise TemplateError(f"bad field path {field!r} in {source!r}")
            start = len(kinds)
            for part in (sub or "*").split("/"):
                if part.startswith("{"):
                    raise TemplateError(f"nested variable in {source!r}")
                _add_segment(part, kinds, literals, source)
            variables.append(Variable(tuple(field.split(".")), start, len(kinds)))
        else:
            _add_segment(token, kinds, literals, source)
    if Kind.DEEP in kinds[:-1]:
        raise TemplateError(f"'**' must be the last segment in {source!r}")
    paths = [v.field_path for v in variables]
    if len(set(paths)) != len(paths):
        raise TemplateError(f"a field is bound twice in {source!r}")
    return PathTemplate(source, tuple(kinds), tuple(literals), tuple(variables), verb)


def split_path(raw_path: str) -> tuple[list[str], str]:
    """Split a request's raw (still percent-encoded) path into segments and a trailing ':verb'."""
    segments = raw_path[1:].split("/") if raw_path.startswith("/") else raw_path.split("/")
    last = segments[-1]
    colon = last.rfind(":")
    if colon > 0:
        segments[-1] = last[:colon]
        return segments, last[colon + 1 :]
    return segments, ""


def _split_verb(source: str) -> tuple[str, str]:
    last_slash = source.rfind("/")
    last_brace = source.rfind("}")
    colon = source.rfind(":")
    if colon > max(last_slash, last_brace):
        verb = source[colon + 1 :]
        if not _LITERAL.match(verb):
            raise TemplateError(f"bad verb {verb!r} in {source!r}")
        return source[:colon], verb
    return source, ""


def _tokens(body: str, source: str) -> list[str]:
    """Split on '/' outside braces."""
    tokens: list[str] = []
    depth = 0
    current = ""
    for char in body:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError(f"unbalanced braces in {source!r}")
        if char == "/" and depth == 0:
            tokens.append(current)
            current = ""
        else:
            current += char
    if depth != 0:
        raise TemplateError(f"unbalanced braces in {source!r}")
    tokens.append(current)
    return tokens


def _add_segment(part: str, kinds: list[Kind], literals: list[str], source: str) -> None:
    if part == "*":
        kinds.append(Kind.ANY)
        literals.append("")
    elif part == "**":
        kinds.append(Kind.DEEP)
        literals.append("")
    elif part and _LITERAL.match(part):
        kinds.append(Kind.LITERAL)
        literals.append(part)
    else:
        raise TemplateError(f"bad segment {part!r} in {source!r}")
