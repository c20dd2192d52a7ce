"""Per-route plans: everything the request path needs, computed once at start-up.

A plan holds the request and response classes, one setter per path variable,
the query-parameter table, the body rule and the response selector. Nothing
on the per-request path walks descriptors to find these.
"""
from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ..routes.table import Route
from .fields import FieldSetter, build_setter, is_settable_from_string

HTTP_BODY = "google.api.HttpBody"
# Nested messages are reachable from the query string down to this depth (a.b.c).
_QUERY_DEPTH = 3


@dataclass(frozen=True, slots=True)
class RoutePlan:
    route: Route
    request_class: type[Message]
    response_class: type[Message]
    path_setters: dict[tuple[str, ...], FieldSetter]
    # By proto name and by JSON (lowerCamel) name, dotted for nested fields.
    query_setters: dict[str, FieldSetter]
    body: str  # "", "*" or a field name
    response_field: str  # "" for the whole message
    response_is_http_body: bool
    success_status: int


def build_plan(route: Route) -> RoutePlan:
    method = route.method
    path_setters = {v.field_path: build_setter(method.input_type, v.field_path) for v in route.template.variables}
    query_setters: dict[str, FieldSetter] = {}
    if route.body != "*":
        bound = {".".join(path) for path in path_setters}
        if route.body:
            bound.add(route.body)
        for proto_path, json_path in _leaf_paths(method.input_type, (), (), 0):
            dotted = ".".join(proto_path)
            if dotted in bound or any(dotted.startswith(b + ".") for b in bound):
                continue
            setter = build_setter(method.input_type, proto_path)
            query_setters[dotted] = setter
            query_setters.setdefault(".".join(json_path), setter)
    output = method.output_type
    return RoutePlan(
        route=route,
        request_class=route.rpc.request_class,
        response_class=route.rpc.response_class,
        path_setters=path_setters,
        query_setters=query_setters,
        body=route.body,
        response_field=route.response_body,
        response_is_http_body=output.full_name == HTTP_BODY and not route.response_body,
        success_status=route.policy.success_status,
    )


def _leaf_paths(
    message: Descriptor, proto_prefix: tuple[str, ...], json_prefix: tuple[str, ...], depth: int
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Field paths (proto names, JSON names) a query parameter may address."""
    paths = []
    for field in message.fields:
        proto_path = (*proto_prefix, field.name)
        json_path = (*json_prefix, field.json_name)
        if is_settable_from_string(field):
            paths.append((proto_path, json_path))
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated and depth + 1 < _QUERY_DEPTH:
            if field.message_type.GetOptions().map_entry:
                continue
            paths.extend(_leaf_paths(field.message_type, proto_path, json_path, depth + 1))
    return paths
