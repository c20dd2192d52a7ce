"""The route table: read once at start-up from the compiled contracts.

For each configured gRPC service, every method with a `google.api.http`
annotation becomes one route per binding (the rule and its
`additional_bindings`), with the gateway policy from our own method option.
Nothing here runs per request.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from postcardapp.gateway.v1 import options_pb2

from .template import PathTemplate, TemplateError, parse_template


class RouteTableError(ValueError):
    """The contracts cannot be served: a bad annotation, an unknown service, a collision."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Our gateway option (postcardapp.gateway.v1.policy), with defaults applied."""

    public: bool
    success_status: int
    timeout_seconds: float | None
    idempotent: bool
    fallback_cached_or_empty: bool


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP binding of one RPC."""

    service: str  # full service name, the key of its upstream
    method: MethodDescriptor
    http_method: str  # upper case
    template: PathTemplate
    body: str  # "" (no body), "*" (whole message) or a top-level field name
    response_body: str  # "" (whole message) or a top-level field name
    policy: Policy

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def name(self) -> str:
        return f"{self.service}.{self.method.name}"


def import_contracts(modules: Iterable[str]) -> None:
    """Import generated *_pb2 modules so their descriptors are in the default pool."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise RouteTableError(f"cannot import contract module {module!r}: {exc}") from exc


def load_routes(service_names: Iterable[str]) -> list[Route]:
    """All routes of the named services, checked and sorted most specific first.

    Raises RouteTableError for an unknown service, a malformed template, a
    body/response_body naming no field, a variable bound to no scalar field, or
    two bindings that collide exactly.
    """
    pool = descriptor_pool.Default()
    routes: list[Route] = []
    for name in service_names:
        try:
            service = pool.FindServiceByName(name)
        except KeyError as exc:
            raise RouteTableError(f"service {name!r} is not in the imported contracts") from exc
        for method in service.methods:
            routes.extend(_method_routes(name, method))
    _check_collisions(routes)
    routes.sort(key=lambda r: r.template.precedence)
    return routes


def _method_routes(service: str, method: MethodDescriptor) -> list[Route]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    if method.client_streaming or method.server_streaming:
        raise RouteTableError(f"{service}.{method.name}: streaming RPCs cannot be exposed over REST")
    policy = _policy(options)
    rule = options.Extensions[annotations_pb2.http]
    routes = []
    for binding in [rule, *rule.additional_bindings]:
        where = f"{service}.{method.name}"
        if binding.additional_bindings and binding is not rule:
            raise RouteTableError(f"{where}: additional_bindings cannot nest")
        routes.append(_route(service, method, binding, policy, where))
    return routes


def _route(service: str, method: MethodDescriptor, rule: http_pb2.HttpRule, policy: Policy, where: str) -> Route:
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
    if rule.response_body:
        _resolve(method.output_type, (rule.response_body,), where)
    return Route(service, method, http_method, template, rule.body, rule.response_body, policy)


def _policy(options: object) -> Policy:
    policy = options.Extensions[options_pb2.policy]  # type: ignore[attr-defined]
    timeout = policy.timeout.ToTimedelta().total_seconds() if policy.HasField("timeout") else None
    return Policy(
        # ACCESS_UNSPECIFIED is authenticated: a forgotten option never opens a route.
        public=policy.access == options_pb2.ACCESS_PUBLIC,
        success_status=policy.success_status or 200,
        timeout_seconds=timeout,
        idempotent=policy.idempotent,
        fallback_cached_or_empty=policy.fallback == options_pb2.FALLBACK_CACHED_OR_EMPTY,
    )


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
