"""The document as a whole: valid OpenAPI 3.1, a pure function of its inputs."""
from __future__ import annotations

import copy
import json

import jsonschema_rs
import pytest
import schemathesis

from gateway.openapi.document import add_contract_routes
from gateway.transcode.plan import build_plan

from .support import (
    BASE_DOCUMENT,
    MAX_BODY,
    all_refs,
    all_schemas,
    document_of,
    json_schema_ok,
    resolve,
)


def test_the_input_document_is_left_alone_and_collisions_fail(contract_routes, doc) -> None:
    before = copy.deepcopy(BASE_DOCUMENT)
    again = document_of(contract_routes)
    assert BASE_DOCUMENT == before
    assert again == doc  # a pure function of its inputs
    taken = copy.deepcopy(BASE_DOCUMENT)
    taken["paths"]["/api/v1/users/me"] = {"get": {"responses": {"200": {"description": "mine"}}}}
    with pytest.raises(ValueError, match="GET /api/v1/users/me"):
        add_contract_routes(taken, [build_plan(r) for r in contract_routes], max_body_bytes=MAX_BODY)
    clash = copy.deepcopy(BASE_DOCUMENT)
    clash["components"] = {"schemas": {"Error": {"type": "string"}}}
    with pytest.raises(ValueError, match=r"schemas\.Error"):
        add_contract_routes(clash, [build_plan(r) for r in contract_routes], max_body_bytes=MAX_BODY)




@pytest.mark.parametrize("which", ["doc", "shelf_doc"])
def test_the_document_is_valid_openapi_3_1(request, which) -> None:
    document = request.getfixturevalue(which)
    text = json.dumps(document)  # serialisable: served as is by /openapi.json
    loaded = schemathesis.openapi.from_dict(json.loads(text))
    loaded.validate()  # the OpenAPI 3.1 meta-schema
    for schema in all_schemas(document):
        jsonschema_rs.meta.validate(schema)  # every schema is valid JSON Schema 2020-12
        json_schema_ok(document, schema, None)  # and compiles, its patterns as ECMA-262 regexes included
    for target in all_refs(document):
        assert resolve(document, {"$ref": target}), target
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
