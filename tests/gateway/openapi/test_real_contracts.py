"""The OpenAPI document of the real contracts: operations, security, schemas, errors, the published rules."""
from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from contractrules.violations import RequestRules
from postcardapp.postcard.v1 import postcard_service_pb2 as postcard_pb
from postcardapp.user.v1 import user_service_pb2 as user_pb

from .support import (
    BASE_DOCUMENT,
    MAX_BODY,
    POSTCARD,
    USER,
    body_schema,
    component,
    json_schema_ok,
    operation,
    params,
    ref,
    resolve,
    success_schema,
)

REAL_OPERATIONS = [
    ("post", "/api/v1/users/login", USER + "UserService/Login", "200"),
    ("get", "/api/v1/users/me", USER + "UserService/GetMe", "200"),
    ("post", "/api/v1/postcards/create", POSTCARD + "PostcardService/CreatePostcard", "202"),
    ("get", "/api/v1/postcards/status/{task_id}", POSTCARD + "PostcardService/GetTaskStatus", "200"),
    ("get", "/api/v1/postcards/status/{task_id}/events", POSTCARD + "PostcardService/WatchTaskStatus", "200"),
    ("get", "/api/v1/postcards/me", POSTCARD + "PostcardService/ListMyPostcards", "200"),
    ("get", "/api/v1/postcards/{postcard_id}", POSTCARD + "PostcardService/GetPostcard", "200"),
    ("get", "/api/v1/postcards/{postcard_id}/image", POSTCARD + "PostcardService/GetPostcardImage", "200"),
]


@pytest.mark.parametrize(("method", "path", "grpc_method", "status"), REAL_OPERATIONS)
def test_every_contract_route_is_an_operation(doc, method, path, grpc_method, status) -> None:
    op = operation(doc, method, path)
    assert op["operationId"] == grpc_method.replace(".", "_").replace("/", "_")
    assert next(iter(op["responses"])) == status
    assert f"`{grpc_method}`" in op["description"]  # findable with grpcurl
    assert op["x-grpc-method"] == f"/{grpc_method}"
    assert op["tags"] == [grpc_method.split("/")[0].rsplit(".", 1)[1]]


def test_only_the_contract_routes_and_the_hand_written_ones_are_documented(doc) -> None:
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert documented == {(m, p) for m, p, _, _ in REAL_OPERATIONS} | {("get", "/actuator/health")}
    assert doc["paths"]["/actuator/health"] == BASE_DOCUMENT["paths"]["/actuator/health"]
    assert {t["name"] for t in doc["tags"]} == {"UserService", "PostcardService"}


def test_summaries_come_from_method_names(doc) -> None:
    assert operation(doc, "get", "/api/v1/postcards/me")["summary"] == "List my postcards"
    assert operation(doc, "get", "/api/v1/postcards/{postcard_id}/image")["summary"] == "Get postcard image"


def test_my_postcards_is_a_bare_array_of_summaries(doc) -> None:
    schema = success_schema(doc, "get", "/api/v1/postcards/me")
    assert schema == {"type": "array", "items": ref(POSTCARD + "PostcardSummary")}


def test_get_postcard_answers_the_postcard_field(doc) -> None:
    assert success_schema(doc, "get", "/api/v1/postcards/{postcard_id}") == ref(POSTCARD + "Postcard")


def test_create_answers_202_with_the_task_id(doc) -> None:
    responses = operation(doc, "post", "/api/v1/postcards/create")["responses"]
    assert "200" not in responses
    schema = resolve(doc, responses["202"]["content"]["application/json"]["schema"])
    assert schema["properties"] == {"task_id": {"type": "string"}}


def test_login_is_public_and_everything_else_needs_a_bearer_token(doc) -> None:
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The token from login.",
    }
    for method, path, _, _ in REAL_OPERATIONS:
        op = operation(doc, method, path)
        public = path == "/api/v1/users/login"
        assert op["security"] == ([] if public else [{"bearerAuth": []}])
        assert ("401" in op["responses"]) is not public


def test_the_postcard_image_is_raw_svg_bytes_as_the_contract_says(doc) -> None:
    ok = operation(doc, "get", "/api/v1/postcards/{postcard_id}/image")["responses"]["200"]
    assert ok["content"] == {"image/svg+xml": {"schema": {"type": "string", "format": "binary"}}}
    assert POSTCARD + "GetPostcardImageRequest" not in doc["components"]["schemas"]  # path only, no body
    assert "google.api.HttpBody" not in doc["components"]["schemas"]


def test_create_documents_the_idempotency_key_header_with_the_rules_the_gateway_applies(doc) -> None:
    header = params(operation(doc, "post", "/api/v1/postcards/create"), "header")["Idempotency-Key"]
    assert header["required"] is False and "422" in header["description"]
    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x20-\\x7E]+$"}
    assert json_schema_ok(doc, header["schema"], "retry-1") and not json_schema_ok(doc, header["schema"], "café")
    others = [op for path, item in doc["paths"].items() for method, op in item.items()
              if (method, path) != ("post", "/api/v1/postcards/create") and path.startswith("/api/")]
    assert not any(p["in"] == "header" for op in others for p in op.get("parameters", []))


def test_login_request_requires_the_code_and_nothing_else(doc) -> None:
    schema = resolve(doc, body_schema(doc, "post", "/api/v1/users/login"))
    assert schema["required"] == ["code"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["code"]["type"] == "string"
    assert (schema["properties"]["code"]["minLength"], schema["properties"]["code"]["maxLength"]) == (1, 256)
    body = operation(doc, "post", "/api/v1/users/login")["requestBody"]
    assert body["required"] is True and str(MAX_BODY) in body["description"]
    assert list(body["content"]) == ["application/json"]


def test_create_request_requires_mood_style_and_theme(doc) -> None:
    schema = resolve(doc, body_schema(doc, "post", "/api/v1/postcards/create"))
    assert schema["required"] == ["mood", "style", "theme"]
    assert set(schema["properties"]) == {"mood", "style", "theme", "recipient", "message"}
    assert json_schema_ok(doc, schema, {"mood": "happy", "style": "ink", "theme": "sea"})
    assert not json_schema_ok(doc, schema, {"mood": "happy", "style": "ink", "theme": "sea", "user_id": "u1"})
    assert not json_schema_ok(doc, schema, {"mood": "happy"})


def test_login_response_fields(doc) -> None:
    schema = resolve(doc, success_schema(doc, "post", "/api/v1/users/login"))
    assert schema["properties"] == {"token": {"type": "string"}, "is_new_user": {"type": "boolean"}}
    # Unpopulated fields are omitted and a newer backend may add some: nothing required, nothing forbidden.
    assert "required" not in schema and "additionalProperties" not in schema


def test_no_response_schema_requires_or_forbids_a_field(doc) -> None:
    for name, schema in doc["components"]["schemas"].items():
        if name.startswith(("postcardapp.",)) and not name.endswith("-Input"):
            assert "required" not in schema and "additionalProperties" not in schema, name


def test_timestamps_are_date_time_strings(doc) -> None:
    for name in (POSTCARD + "Postcard", POSTCARD + "PostcardSummary", USER + "GetMeResponse"):
        created_at = component(doc, name)["properties"]["created_at"]
        assert created_at["type"] == "string" and created_at["format"] == "date-time"


@pytest.mark.parametrize(
    ("path", "name"),
    [("/api/v1/postcards/status/{task_id}", "task_id"), ("/api/v1/postcards/status/{task_id}/events", "task_id"),
     ("/api/v1/postcards/{postcard_id}", "postcard_id"), ("/api/v1/postcards/{postcard_id}/image", "postcard_id")],
)
def test_path_parameters_are_typed_and_required(doc, path, name) -> None:
    op = operation(doc, "get", path)
    parameter = params(op, "path")[name]
    assert {k: parameter[k] for k in ("name", "in", "required")} == {"name": name, "in": "path", "required": True}
    assert {k: parameter["schema"][k] for k in ("type", "minLength", "maxLength")} == {
        "type": "string", "minLength": 1, "maxLength": 64,
    }
    assert params(op, "query") == {}  # the request has no other field


def test_errors_share_one_schema(doc) -> None:
    error = component(doc, "Error")
    inner = error["properties"]["error"]
    assert error["required"] == ["error"]
    assert inner["required"] == ["code", "status", "message", "details"]
    assert {k: v["type"] for k, v in inner["properties"].items()} == {
        "code": "integer", "status": "string", "message": "string", "details": "array",
    }
    for response in doc["components"]["responses"].values():
        assert response["content"] == {"application/json": {"schema": ref("Error")}}
    assert json_schema_ok(doc, ref("Error"), {"error": {"code": 404, "status": "NOT_FOUND", "message": "x",
                                                        "details": []}})
    too_many = doc["components"]["responses"]["TooManyRequests"]
    assert set(too_many["headers"]) == {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    assert "Retry-After" in doc["components"]["responses"]["ServiceUnavailable"]["headers"]


@pytest.mark.parametrize(("method", "path", "grpc_method", "status"), REAL_OPERATIONS)
def test_the_fallback_header_is_documented_where_the_contract_declares_a_fallback(
    doc, method, path, grpc_method, status
) -> None:
    headers = operation(doc, method, path)["responses"][status].get("headers", {})
    if grpc_method.endswith("ListMyPostcards"):
        assert headers["X-Fallback"]["schema"]["enum"] == ["cache", "empty"]
    else:
        assert "X-Fallback" not in headers


@pytest.mark.parametrize(("method", "path", "grpc_method", "status"), REAL_OPERATIONS)
def test_every_operation_documents_its_errors(doc, method, path, grpc_method, status) -> None:
    op = operation(doc, method, path)
    expected = {"400", "404", "429", "431", "500", "503", "504", "default"}
    expected |= set() if path == "/api/v1/users/login" else {"401"}
    expected |= {"413", "415"} if "requestBody" in op else set()
    assert set(op["responses"]) == expected | {status}
    for code in expected:
        assert resolve(doc, op["responses"][code])["content"]["application/json"]["schema"] == ref("Error")


def test_real_json_matches_the_response_schemas(doc) -> None:
    from postcardapp.postcard.v1 import postcard_service_pb2 as pb
    from postcardapp.user.v1 import user_service_pb2 as user_pb

    postcard = pb.Postcard(postcard_id="p1", task_id="t1", frontend_code="<svg/>", image_url="/i", mood="m")
    postcard.created_at.FromSeconds(1_700_000_000)
    samples = [
        ("get", "/api/v1/postcards/status/{task_id}", pb.GetTaskStatusResponse(status="completed", data=postcard)),
        ("get", "/api/v1/postcards/status/{task_id}", pb.GetTaskStatusResponse(status="failed", error="boom")),
        ("post", "/api/v1/users/login", user_pb.LoginResponse(token="t", is_new_user=False)),
    ]
    for method, path, message in samples:
        data = json_format.MessageToDict(message, preserving_proto_field_name=True)
        assert json_schema_ok(doc, success_schema(doc, method, path), data), data
    as_list = [json_format.MessageToDict(pb.PostcardSummary(postcard_id="p1"), preserving_proto_field_name=True)]
    assert json_schema_ok(doc, success_schema(doc, "get", "/api/v1/postcards/me"), as_list)
    assert not json_schema_ok(doc, success_schema(doc, "get", "/api/v1/postcards/me"), {"postcards": as_list})



def test_the_status_events_are_a_stream_of_the_status_messages(doc) -> None:
    from postcardapp.postcard.v1 import postcard_service_pb2 as pb

    ok = operation(doc, "get", "/api/v1/postcards/status/{task_id}/events")["responses"]["200"]
    assert set(ok["content"]) == {"application/x-ndjson", "text/event-stream"}
    line = ok["content"]["application/x-ndjson"]["x-itemSchema"]
    assert line["anyOf"] == [ref(POSTCARD + "GetTaskStatusResponse"), ref("Error")]
    for message in (pb.GetTaskStatusResponse(status="processing"),
                    pb.GetTaskStatusResponse(status="failed", error="x")):
        assert json_schema_ok(doc, line, json_format.MessageToDict(message, preserving_proto_field_name=True))


# Every rule-bearing request field: (message class, field, the JSON Schema of it in the document).
RULE_FIELDS = [
    (user_pb.LoginRequest, "code", ("post", "/api/v1/users/login")),
    *[(postcard_pb.CreatePostcardRequest, name, ("post", "/api/v1/postcards/create"))
      for name in ("mood", "style", "theme", "recipient", "message")],
    (postcard_pb.GetTaskStatusRequest, "task_id", ("get", "/api/v1/postcards/status/{task_id}")),
    (postcard_pb.GetPostcardRequest, "postcard_id", ("get", "/api/v1/postcards/{postcard_id}")),
]
SAMPLES = ["", "a", " a ", "   ", "\t", "\u3000", "\u3000x", "a\nb", "a\r\nb", "tab\there", "\x00", "\x7f", "\x85",
           "\xa0", "\u00a0x", "\ufffe", "\uffff", "\u2028", "x\u2028y", "喜", "😀", "x" * 50, "x" * 51, "x" * 64,
           "x" * 65, "x" * 200, "x" * 201, "x" * 256, "x" * 257, "y" * 500, "y" * 501]


def _field_schema(doc: dict[str, Any], where: tuple[str, str], name: str) -> dict[str, Any]:
    op = operation(doc, *where)
    if "requestBody" in op:
        return resolve(doc, body_schema(doc, *where))["properties"][name]
    return params(op, "path")[name]["schema"]


@pytest.mark.parametrize(("message", "name", "where"), RULE_FIELDS, ids=[f[1] for f in RULE_FIELDS])
def test_the_published_rules_are_the_enforced_ones(doc, message, name, where) -> None:
    """Sample values: the document accepts a value exactly when protovalidate finds nothing wrong with it."""
    schema = _field_schema(doc, where, name)
    rules = RequestRules()
    for value in SAMPLES:
        broken = rules.check(message(**{name: value}))
        keeps_rules = broken is None or all(v.field != name for v in broken.bad_request.field_violations)
        assert json_schema_ok(doc, schema, value) == keeps_rules, (name, value)
