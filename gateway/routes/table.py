"""The route table: read once at start-up from the compiled contracts.

For each configured gRPC service, every method with a `google.api.http`
annotation becomes one route per binding (the rule and its
`additional_bindings`), with the gateway policy from our own method option.
A server-streaming RPC becomes a route too (answered as Server-Sent Events or
NDJSON, `gateway/streaming/`); client- and bidirectional streaming cannot be
carried by one HTTP request and response, so an annotation on one stops
start-up. Nothing here runs per request.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from ..transcode.wellknown import HTTP_BODY
from ..upstream.rpc import MethodPolicy, Rpc, RpcCatalog
from .template import PathTemplate, TemplateError, parse_template


class RouteTableError(ValueError):
    """The contracts cannot be served: a bad annotation, an unknown service, a collision."""


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP binding of one RPC: the handle the upstream layer calls, and how HTTP maps onto it."""

    rpc: Rpc
    http_method: str  # upper case
    template: PathTemplate
    body: str  # "" (no body), "*" (whole message) or a top-level field name
    response_body: str  # "" (whole message) or a top-level field name
    binding: int = 0  # 0: the rule itself; n: its n-th additional_binding

    @property
    def service(self) -> str:
        return self.rpc.service

    @property
    def method(self) -> MethodDescriptor:
        return self.rpc.descriptor

    @property
    def policy(self) -> MethodPolicy:
        return self.rpc.policy

    @property
    def server_streaming(self) -> bool:
        return self.rpc.server_streaming

    @property
    def grpc_path(self) -> str:
        return self.rpc.path

    @property
    def name(self) -> str:
        return self.rpc.full_name


def import_contracts(modules: Iterable[str]) -> None:
    """Import generated *_pb2 modules so their descriptors are in the default pool."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise RouteTableError(f"cannot import contract module {module!r}: {exc}") from exc


def rpc_catalog(service_names: Iterable[str]) -> RpcCatalog:
    """The RPC handles of the named services; RouteTableError for a service not in the contracts."""
    try:
        return RpcCatalog(service_names)
    except KeyError as exc:
        raise RouteTableError(f"service {exc.args[0]!r} is not in the imported contracts") from None


def load_routes(catalog: RpcCatalog) -> list[Route]:
    """All routes of the catalog's methods, checked (the router orders them itself).

    Raises RouteTableError for a malformed template, a body/response_body
    naming no field, a variable bound to no scalar field, a client- or
    bidirectional-streaming RPC with an HTTP binding, a server-streaming one
    with a fallback or a `google.api.HttpBody` response, or two bindings that
    collide exactly.
    """
    routes: list[Route] = []
    for service in catalog.services:
        for method in service.methods:
            routes.extend(_method_routes(catalog, service.full_name, method))
    _check_collisions(routes)
    return routes


def _method_routes(catalog: RpcCatalog, service: str, method: MethodDescriptor) -> list[Route]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    where = f"{service}.{method.name}"
    if method.client_streaming:
        raise RouteTableError(
            f"{where}: client-streaming and bidirectional RPCs cannot be exposed over REST (server streaming can)"
        )
    rpc = catalog[where]
    if rpc.server_streaming and rpc.policy.fallback_cached_or_empty:
        raise RouteTableError(f"{where}: a server-streaming RPC cannot declare a fallback")
    rule = options.Extensions[annotations_pb2.http]
    routes = []
    for index, binding in enumerate([rule, *rule.additional_bindings]):
        if binding.additional_bindings and binding is not rule:
            raise RouteTableError(f"{where}: additional_bindings cannot nest")
        routes.append(_route(rpc, binding, index, where))
    return routes


def _route(rpc: Rpc, rule: http_pb2.HttpRule, index: int, where: str) -> Route:
    method = rpc.descriptor
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        raise RouteTableError(f"{where}: google.api.http has no method and path")
    if pattern == "custom":
        http_method, path = rule.custom.kind.upper(), rule.custom.path
    else:
        http_method, path = pattern.upper(), getattr(rule, pattern)
    try:
        template = parse_template(path)
    except TemplateError as exc:
        raise RouteTableError(f"{where}: {exc}") from exc
    for variable in template.variables:
        field = _resolve(method.input_type, variable.field_path, where)
        if field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP) or field.is_repeated:
            raise RouteTableError(f"{where}: path variable {'.'.join(variable.field_path)} must be a scalar field")
    if rule.body not in ("", "*"):
        _resolve(method.input_type, (rule.body,), where)
    if rule.body and http_method in ("GET", "DELETE"):
        raise RouteTableError(f"{where}: {http_method} cannot have a body")
    sent: Descriptor | None = method.output_type  # what each response is sent as
    if rule.response_body:
        sent = _resolve(method.output_type, (rule.response_body,), where).message_type
    if rpc.server_streaming and sent is not None and sent.full_name == HTTP_BODY:
        raise RouteTableError(f"{where}: a stream of {HTTP_BODY} cannot be exposed over REST")
    return Route(rpc, http_method, template, rule.body, rule.response_body, index)


def _resolve(message: Descriptor, field_path: tuple[str, ...], where: str) -> FieldDescriptor:
    field: FieldDescriptor | None = None
    current: Descriptor | None = message
    for name in field_path:
        if current is None:
            raise RouteTableError(f"{where}: {'.'.join(field_path)} goes through a non-message field")
        field = current.fields_by_name.get(name)
        if field is None:
            raise RouteTableError(f"{where}: {current.full_name} has no field {name!r}")
        current = field.message_type
    assert field is not None
    return field


def _check_collisions(routes: list[Route]) -> None:
    seen: dict[tuple[str, object], Route] = {}
    for route in routes:
        key = (route.http_method, route.template.shape)
        other = seen.get(key)
        if other is not None:
            raise RouteTableError(
                f"HTTP bindings collide: {route.http_method} {route.template.source} ({route.name}) "
                f"and {other.http_method} {other.template.source} ({other.name})"
            )
        seen[key] = route
