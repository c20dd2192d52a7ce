"""A request checked against its contract's rules, and what is wrong as a `google.rpc.BadRequest`.

    rules = RequestRules()                  # once per process: protovalidate compiles each message's rules once
    rules.prepare([CreatePostcardRequest])  # at start-up: a rule that cannot compile fails here, not per request
    wrong = rules.check(request)            # None, or Violations
    wrong.message     # "mood: value is required"  (the first violation; "(and 2 more)" when there are others)
    wrong.bad_request # google.rpc.BadRequest: one FieldViolation per violation, in protovalidate's order
    wrong.status()    # google.rpc.Status INVALID_ARGUMENT with the BadRequest in its details

The gateway and the services call this same code, so a rule a client breaks reads the same
whichever of them refused it. A FieldViolation's `field` is the request's field path as the JSON
names it with original proto names (`mood`, `items[2].name`, `labels["k"]`), `description`
protovalidate's message, `reason` the rule's id (`required`, `string.max_len`, `string.pattern`,
...), as AIP-193 reads a BadRequest.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import grpc
import protovalidate
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2


@dataclass(frozen=True, slots=True)
class Violations:
    bad_request: error_details_pb2.BadRequest

    @property
    def message(self) -> str:
        """One line for people: the first violation, and how many more the details hold."""
        violations = self.bad_request.field_violations
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        return f"{first.field}: {first.description}{more}"

    def status(self) -> status_pb2.Status:
        detail = any_pb2.Any()
        detail.Pack(self.bad_request)
        return status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message=self.message, details=[detail])


class RequestRules:
    """protovalidate's validator, built once; `check` is what every request goes through."""

    def __init__(self) -> None:
        self._validator = protovalidate.Validator()

    def prepare(self, request_classes: Iterable[type[Message]]) -> None:
        """Compile the rules of these messages now; raises protovalidate.CompilationError for a broken rule."""
        for request_class in request_classes:
            self._validator.collect_violations(request_class())

    def check(self, request: Message) -> Violations | None:
        """The request's violations, or None when it keeps every rule of its contract."""
        found = self._validator.collect_violations(request)
        if not found:
            return None
        return Violations(error_details_pb2.BadRequest(field_violations=[_field_violation(v) for v in found]))


def _field_violation(violation: protovalidate.Violation) -> error_details_pb2.BadRequest.FieldViolation:
    proto = violation.proto
    return error_details_pb2.BadRequest.FieldViolation(
        field=field_path(proto.field.elements if proto.field is not None else ()),
        description=proto.message,
        reason=proto.rule_id,
    )


def field_path(elements: Sequence[protovalidate.FieldPathElementPb]) -> str:
    """`a.b[0].c["key"]`: field names, with the index or key of a repeated or map element."""
    parts: list[str] = []
    for element in elements:
        parts.append(("." if parts else "") + element.field_name)
        if element.subscript is not None:
            key = element.subscript.value
            if element.subscript.field == "string_key":
                parts.append(f'["{key}"]')
            elif element.subscript.field == "bool_key":
                parts.append(f"[{str(key).lower()}]")
            else:
                parts.append(f"[{key}]")
    return "".join(parts)
