"""The OpenAPI 3.1 document of the contract routes, built at start-up from the route plans that serve them.

It describes exactly what the transcoder accepts and answers, from the same
plan objects the requests use: path variables and query parameters (the plan's
own list) named by dotted proto field paths, with the `buf.validate` rules the
validate stage enforces (`rules.py`), a JSON body per `google.api.http`
`body`, the success status of the gateway policy, the `response_body` shaping,
raw bytes for `google.api.HttpBody` (with the contract's media type), the
request headers the contract declares (with the rules the header allow-list
applies), bearer JWT security and one error body for every failure. Message
schemas come from `schemas.py`; streamed answers are described by `streams.py`.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ..routes.table import Route
from ..routes.template import Kind, PathTemplate, Variable
from ..transcode.headers import header_rule
from ..transcode.plan import RoutePlan
from ..upstream.rpc import Pagination
from . import rules, streams
from .schemas import REF_PREFIX, FieldPath, Schema, SchemaSet, behaviors, is_http_body

OPENAPI_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
BEARER = "bearerAuth"

ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "The body of every error response of the gateway.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "status", "message", "details"],
            "properties": {
                "code": {"type": "integer", "description": "The HTTP status code.", "examples": [404]},
                "status": {"type": "string", "description": "The gRPC status code name.", "examples": ["NOT_FOUND"]},
                "message": {"type": "string", "description": "What went wrong, for a developer."},
                "details": {"type": "array", "items": {"type": "object"}, "description": "Structured details."},
            },
        }
    },
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
_INTEGER = {"schema": {"type": "integer"}}
_RATE_LIMITED = {
    **_RETRY_AFTER,
    "RateLimit-Limit": {"description": "Requests allowed in the limit's window.", **_INTEGER},
    "RateLimit-Remaining": {"description": "Requests left in the window (0).", **_INTEGER},
    "RateLimit-Reset": {"description": "Seconds until the window allows a request again.", **_INTEGER},
}
FALLBACK_HEADER = {
    "X-Fallback": {
        "description": "Present when the service was unavailable and the gateway answered instead: `cache` (the "
        "caller's last good answer) or `empty`.",
        "schema": {"type": "string", "enum": ["cache", "empty"]},
    }
}
# status -> (component name, description, headers)
_ERRORS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "400": ("BadRequest", "Invalid request: malformed JSON, an unknown or wrongly typed field, a bad path or "
            "query value, or a value the service rejected (INVALID_ARGUMENT).", {}),
    "401": ("Unauthorized", "Missing, malformed, expired or otherwise invalid bearer token (UNAUTHENTICATED).", {}),
    "404": ("NotFound", "No such resource, or one that belongs to another user (NOT_FOUND).", {}),
    "413": ("ContentTooLarge", "The request body is larger than the gateway accepts.", {}),
    "415": ("UnsupportedMediaType", "The request body is not `application/json`.", {}),
    "431": ("RequestHeaderFieldsTooLarge", "The request's headers are larger than the gateway accepts, or those it "
            "forwards to the service (Authorization, Idempotency-Key, traceparent, tracestate, Accept-Language) are "
            "larger together than the service's metadata budget.", {}),
    "429": ("TooManyRequests", "Rate limit of this caller and route exceeded, too many failed "
            "authentications from this address, or the service refuses more work for now (RESOURCE_EXHAUSTED with "
            "its RetryInfo and QuotaFailure in `details`, such as too many postcards being made).", _RATE_LIMITED),
    "500": ("InternalServerError", "Unexpected failure; never carries a stack trace.", {}),
    "503": ("ServiceUnavailable", "The service is unavailable (circuit open or no healthy endpoint).", _RETRY_AFTER),
    "504": ("GatewayTimeout", "The service did not answer within the deadline (DEADLINE_EXCEEDED).", {}),
    "default": ("Error", "Any other error, with its HTTP status and gRPC status name.", {}),
}
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The token from login."}
}


def add_contract_routes(document: dict[str, Any], plans: Sequence[RoutePlan], *, max_body_bytes: int) -> dict[str, Any]:
    """Return a copy of `document` (FastAPI's OpenAPI 3.1 output) with the route of every plan added.

    Adds `paths`, the message, enum and `Error` schemas, the shared error
    responses, the `bearerAuth` security scheme and one tag per service; the
    input is not modified. A route whose HTTP method OpenAPI cannot name (a
    `custom` kind such as `LIST`) is left out. Raises ValueError when a route
    takes a path and method already in the document, or when a component name
    is already taken by a different definition.
    """
    result = copy.deepcopy(document)
    schemas = SchemaSet()
    paths = result.setdefault("paths", {})
    operation_ids = _operation_ids([plan.route for plan in plans])
    tags: dict[str, str] = {}
    for plan, operation_id in zip(plans, operation_ids, strict=True):
        route = plan.route
        method = route.http_method.lower()
        if method not in OPENAPI_METHODS:
            continue
        item = paths.setdefault(route.template.openapi_path(), {})
        if method in item:
            raise ValueError(f"{route.http_method} {route.template.openapi_path()} is already in the document")
        item[method] = _operation(plan, operation_id, schemas, max_body_bytes)
        tags[_short(route.service)] = f"gRPC service `{route.service}`."
    components = result.setdefault("components", {})
    _merge(components, "schemas", {**schemas.components, "Error": ERROR_SCHEMA})
    errors = [*_ERRORS.values(), *(streams.ERRORS.values() if any(p.route.server_streaming for p in plans) else ())]
    _merge(components, "responses", {name: _error_response(text, headers) for name, text, headers in errors})
    _merge(components, "securitySchemes", SECURITY_SCHEMES)
    known = {tag["name"] for tag in result.get("tags", [])}
    new_tags = [{"name": name, "description": text} for name, text in tags.items() if name not in known]
    if new_tags:
        result["tags"] = [*result.get("tags", []), *new_tags]
    return result


def _operation(plan: RoutePlan, operation_id: str, schemas: SchemaSet, max_body_bytes: int) -> dict[str, Any]:
    route = plan.route
    request = route.method.input_type
    bound = frozenset(plan.path_setters)
    parameters = [_path_parameter(route.template, v, _field(request, v.field_path), schemas)
                  for v in route.template.variables]
    parameters += [_query_parameter(parameter.name, parameter.field, schemas) for parameter in plan.query]
    parameters += [_header_parameter(name, description) for name, description in route.policy.request_headers]
    operation: dict[str, Any] = {
        "tags": [_short(route.service)],
        "summary": _summary(route.method.name),
        "description": _description(route),
        "operationId": operation_id,
        "parameters": parameters,
    }
    if plan.body:
        operation["requestBody"] = _request_body(request, plan.body, bound, schemas, max_body_bytes)
    status = str(plan.success_status)
    responses: dict[str, Any] = {status: _success(plan, status, schemas)}
    if route.policy.fallback_cached_or_empty:
        responses[status]["headers"] = copy.deepcopy(FALLBACK_HEADER)
    if plan.next_page is not None:
        responses[status].setdefault("headers", {}).update(_link_header(plan.next_page.parameter))
        _describe_paging(parameters, route.policy.pagination)
    errors = ["400", *([] if route.policy.public else ["401"]), "404",
              *(["413", "415"] if route.body else []), "429", "431", "500", "503", "504", "default"]
    table = {**_ERRORS, **streams.ERRORS} if route.server_streaming else _ERRORS
    responses.update({code: {"$ref": f"#/components/responses/{table[code][0]}"} for code in errors})
    operation["responses"] = responses
    operation["security"] = [] if route.policy.public else [{BEARER: []}]
    if route.method.GetOptions().deprecated:
        operation["deprecated"] = True
    operation["x-grpc-method"] = route.grpc_path
    return operation


def _describe_paging(parameters: list[dict[str, Any]], pagination: Pagination | None) -> None:
    """The page token and page size query parameters, as the contract's `pagination` declares them."""
    assert pagination is not None  # a plan has a next page only when the contract declares pagination
    for parameter in parameters:
        if parameter["in"] != "query":
            continue
        if parameter["name"] == pagination.page_token_field:
            parameter["description"] = (f"Where the page starts: the `{parameter['name']}` of the previous page's "
                                        "`Link` URL (opaque); absent for the first page.")
        elif parameter["name"] == pagination.page_size_field:
            default, largest = pagination.default_page_size, pagination.max_page_size
            parameter["description"] = (f"Items per page: {default} when absent or 0, at most {largest} "
                                        f"(a larger value is taken as {largest}).")
            parameter["schema"]["default"] = default


def _link_header(parameter: str) -> dict[str, Any]:
    return {"Link": {
        "description": f'The next page, when there is one (RFC 8288): `</path?...&{parameter}=...>; rel="next"`, '
        "a reference relative to this request's URL. Absent on the last page.",
        "schema": {"type": "string"},
    }}


def _path_parameter(
    template: PathTemplate, variable: Variable, field: FieldDescriptor, schemas: SchemaSet
) -> dict[str, Any]:
    schema = rules.constrain(schemas.parameter_value(field) or {"type": "string"}, field)
    parameter = {"name": ".".join(variable.field_path), "in": "path", "required": True, "schema": schema}
    kinds = template.kinds[variable.start : variable.end]
    if kinds != (Kind.ANY,):
        # A variable such as {name=shelves/*} spans several segments: its value keeps its slashes.
        parts = [template.literals[i] for i in range(variable.start, variable.end)]
        shape = "/".join(part or ("*" if kind is Kind.ANY else "**") for part, kind in zip(parts, kinds, strict=True))
        # Escape only regex syntax: in ECMA-262 (JSON Schema, unicode mode) re.escape's `\-` is an error.
        regex = "/".join(re.sub(r"([.^$|?*+()\[\]{}\\])", r"\\\1", p) if k is Kind.LITERAL
                         else ("[^/]+" if k is Kind.ANY else ".+") for p, k in zip(parts, kinds, strict=True))
        if schema.get("type") == "string":
            if "pattern" in schema:  # the field's own rule: both must hold
                schema.setdefault("allOf", []).append({"pattern": f"^{regex}$"})
            else:
                schema["pattern"] = f"^{regex}$"
        parameter["description"] = f"Matches `{shape}`, several path segments: send its `/` unencoded."
    return parameter


def _query_parameter(name: str, field: FieldDescriptor, schemas: SchemaSet) -> dict[str, Any]:
    value = schemas.parameter_value(field)
    assert value is not None  # the plan lists only fields a string can set
    # Required when a buf.validate rule says so: the validate stage refuses a request without it.
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": rules.is_required(field)}
    if field.is_repeated:
        parameter.update(schema=rules.constrain({"type": "array", "items": value}, field), style="form", explode=True)
    else:
        parameter["schema"] = rules.constrain(value, field)
    if field_behavior_pb2.REQUIRED in behaviors(field) and not parameter["required"]:
        parameter["description"] = "Required by the contract: the service rejects a request without it."
    return parameter


def _header_parameter(name: str, description: str) -> dict[str, Any]:
    """A header the contract declares, with the rules the header allow-list applies to its value."""
    rule = header_rule(name)
    if rule is None:
        raise ValueError(f"the contract declares header {name!r}, which the gateway does not forward")
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": rule.max_length, "pattern": "^[\\x20-\\x7E]+$"},
    }


def _request_body(message: Descriptor, body: str, bound: frozenset[FieldPath], schemas: SchemaSet,
                  max_body_bytes: int) -> dict[str, Any]:
    if body == "*":
        schema = schemas.message(message, request=True, omit=bound)
    else:
        field = message.fields_by_name[body]
        inner = frozenset(path[1:] for path in bound if len(path) > 1 and path[0] == body)
        if inner and field.message_type is not None and not field.is_repeated:
            schema = schemas.message(field.message_type, request=True, omit=inner)
        else:
            schema = schemas.field(field, request=True)
    where = "The request message" if body == "*" else f"Field `{body}` of the request message"
    return {
        "required": True,
        "description": f"{where}, as JSON of at most {max_body_bytes} bytes (larger: 413).",
        "content": {"application/json": {"schema": schema}},
    }


def _success(plan: RoutePlan, status: str, schemas: SchemaSet) -> dict[str, Any]:
    route = plan.route
    output = route.method.output_type
    target: FieldDescriptor | Descriptor = output.fields_by_name[plan.response_field] if plan.response_field else output
    try:
        phrase = HTTPStatus(int(status)).phrase
    except ValueError:
        phrase = "Success"
    if is_http_body(target):
        media_type = route.policy.response_media_type
        whose = f"`{media_type}`" if media_type else "the content type the service chose"
        return {
            "description": f"{phrase}: raw bytes, {whose} (google.api.HttpBody).",
            "content": {media_type or "*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    if isinstance(target, FieldDescriptor):
        schema, what = schemas.field(target, request=False), f"field `{target.name}` of `{output.full_name}`"
    else:
        schema, what = schemas.message(target, request=False), f"`{output.full_name}`"
    if route.server_streaming:
        return streams.stream_response(phrase, what, schema)
    return {"description": f"{phrase}: {what}.", "content": {"application/json": {"schema": schema}}}


def _error_response(description: str, headers: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF_PREFIX + "Error"}}},
    }
    if headers:
        response["headers"] = copy.deepcopy(headers)
    return response


def _operation_ids(routes: Sequence[Route]) -> list[str]:
    """`route.name` with dots as underscores; an additional binding adds `_<binding index>`.

    The first binding keeps the plain id so that adding a binding later does
    not rename an operation clients were generated from.
    """
    counts: dict[str, int] = {}
    for route in routes:
        counts[route.name] = counts.get(route.name, 0) + 1
    ids: list[str] = []
    for route in routes:
        base = route.name.replace(".", "_")
        ids.append(f"{base}_{route.binding}" if counts[route.name] > 1 and route.binding else base)
    if len(set(ids)) != len(ids):
        raise ValueError(f"operation ids collide: {sorted(ids)}")
    return ids


def _field(message: Descriptor, path: FieldPath) -> FieldDescriptor:
    field = message.fields_by_name[path[0]]
    for name in path[1:]:
        assert field.message_type is not None  # a path goes through message fields only
        field = field.message_type.fields_by_name[name]
    return field


def _merge(components: dict[str, Any], section: str, added: dict[str, Any]) -> None:
    existing = components.setdefault(section, {})
    for name, value in added.items():
        if name in existing and existing[name] != value:
            raise ValueError(f"components.{section}.{name} is already defined differently")
        existing[name] = copy.deepcopy(value)


def _short(service: str) -> str:
    return service.rsplit(".", 1)[-1]


def _summary(method: str) -> str:
    """`GetPostcardImage` -> `Get postcard image`; an acronym keeps its case (`GetURL` -> `Get URL`)."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", method) or [method]
    text = " ".join(w if len(w) > 1 and w.isupper() else w.lower() for w in words)
    return text[:1].upper() + text[1:]


def _description(route: Route) -> str:
    grpc = f"{route.service}/{route.method.name}"
    lines = [f"Calls the gRPC method `{grpc}` (`grpcurl HOST:PORT describe {route.service}.{route.method.name}`)."]
    lines.append("Public: no token needed." if route.policy.public else "Needs a bearer JWT.")
    if route.policy.idempotent:
        lines.append("Idempotent: the gateway may retry it on another endpoint.")
    if route.policy.timeout_seconds is not None:
        lines.append(f"Deadline: {route.policy.timeout_seconds:g} s.")
    if route.policy.fallback_cached_or_empty:
        lines.append("When the service is unavailable: the caller's last good answer, else an empty one, "
                     "flagged by the `X-Fallback` response header.")
    return "\n\n".join(lines)
