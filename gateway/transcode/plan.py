"""Per-route plans: everything the request path needs, computed once at start-up.

A plan holds the request and response classes, one setter per path variable,
the query parameters (each a field path with its setter), the body rule and
the response selector. Nothing on the per-request path walks descriptors to
find these, and the OpenAPI document is built from the same plans, so what is
documented is by construction what is served.
"""
from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ..routes.table import Route, RouteTableError
from .encoder import encoder_for
from .fields import FieldSetter, build_setter
from .headers import header_rule
from .paging import NextPage, next_page_of
from .wellknown import HTTP_BODY, QUERY_DEPTH, is_settable_from_string


@dataclass(frozen=True, slots=True)
class QueryParameter:
    """One field a query parameter may set: by its dotted proto name, or its dotted JSON (lowerCamel) name."""

    name: str
    json_name: str
    field: FieldDescriptor
    setter: FieldSetter


@dataclass(frozen=True, slots=True)
class RoutePlan:
    route: Route
    request_class: type[Message]
    response_class: type[Message]
    path_setters: dict[tuple[str, ...], FieldSetter]
    query: tuple[QueryParameter, ...]
    # Both names of every query parameter -> its setter.
    query_setters: dict[str, FieldSetter]
    body: str  # "", "*" or a field name
    response_field: str  # "" for the whole message
    response_is_http_body: bool
    success_status: int
    next_page: NextPage | None  # a paged list's Link header (the contract's `pagination`)


def build_plan(route: Route) -> RoutePlan:
    """The route's plan; RouteTableError when its contract declares a request header the gateway does not forward."""
    for name, _ in route.policy.request_headers:
        if header_rule(name) is None:
            raise RouteTableError(f"{route.name}: declares request header {name!r}, which the gateway does not forward")
    method = route.method
    path_setters = {v.field_path: build_setter(method.input_type, v.field_path) for v in route.template.variables}
    query = tuple(_query_parameters(route, bound=frozenset(path_setters)))
    query_setters: dict[str, FieldSetter] = {}
    for parameter in query:
        query_setters[parameter.name] = parameter.setter
        query_setters.setdefault(parameter.json_name, parameter.setter)
    output = method.output_type
    encoder_for(output)  # its JSON converter compiled now, not by the first response
    return RoutePlan(
        route=route,
        request_class=route.rpc.request_class,
        response_class=route.rpc.response_class,
        path_setters=path_setters,
        query=query,
        query_setters=query_setters,
        body=route.body,
        response_field=route.response_body,
        response_is_http_body=output.full_name == HTTP_BODY and not route.response_body,
        success_status=route.policy.success_status,
        next_page=next_page_of(route.name, route.policy.pagination, method.input_type, output,
                               (parameter.name for parameter in query)),
    )


def _query_parameters(route: Route, bound: frozenset[tuple[str, ...]]) -> list[QueryParameter]:
    """Every leaf field a string can set, outside the path variables and the body (none when the body is `*`)."""
    if route.body == "*":
        return []
    taken = {".".join(path) for path in bound} | ({route.body} if route.body else set())
    parameters = []
    for proto_path, json_path, field in _leaves(route.method.input_type, (), ()):
        dotted = ".".join(proto_path)
        if dotted in taken or any(dotted.startswith(prefix + ".") for prefix in taken):
            continue
        parameters.append(QueryParameter(dotted, ".".join(json_path), field,
                                         build_setter(route.method.input_type, proto_path)))
    return parameters


def _leaves(
    message: Descriptor, proto_prefix: tuple[str, ...], json_prefix: tuple[str, ...]
) -> list[tuple[tuple[str, ...], tuple[str, ...], FieldDescriptor]]:
    leaves = []
    for field in message.fields:
        proto_path, json_path = (*proto_prefix, field.name), (*json_prefix, field.json_name)
        if is_settable_from_string(field):
            leaves.append((proto_path, json_path, field))
        elif field.message_type is not None and not field.is_repeated and len(proto_path) < QUERY_DEPTH:
            leaves.extend(_leaves(field.message_type, proto_path, json_path))
    return leaves
