"""HTTP bindings as operations: path variables, bodies, query parameters, additional bindings."""
from __future__ import annotations

from .support import (
    DATE_TIME,
    INT64,
    SCALAR_MAPPING,
    SHELF,
    body_schema,
    component,
    json_schema_ok,
    operation,
    params,
    patterns,
    ref,
)


def test_multi_segment_path_variable_and_additional_binding(shelf_doc) -> None:
    main = operation(shelf_doc, "get", "/v1/{name}")
    extra = operation(shelf_doc, "get", "/v1/books/{name}")
    assert main["operationId"] == "openapitest_v1_ShelfService_GetBook"
    assert extra["operationId"] == "openapitest_v1_ShelfService_GetBook_1"
    name = params(main, "path")["name"]
    assert name["required"] is True
    assert name["schema"] == {"type": "string", "pattern": "^shelves/[^/]+/books/[^/]+$"}
    assert "shelves/*/books/*" in name["description"]
    assert params(extra, "path")["name"]["schema"] == {"type": "string"}
    assert main["security"] == [] and "Deadline: 2 s." in main["description"]


def test_field_body_with_a_nested_path_variable(shelf_doc) -> None:
    op = operation(shelf_doc, "patch", "/v1/{book.name}")
    assert params(op, "path")["book.name"]["schema"]["pattern"] == "^shelves/[^/]+/books/[^/]+$"
    # The path carries book.name: the body is the rest of the book, the query the rest of the request.
    body = body_schema(shelf_doc, "patch", "/v1/{book.name}")
    assert set(body["properties"]) == {"title", "color", "published"}
    assert body["required"] == ["title"] and body["additionalProperties"] is False
    assert patterns(params(op, "query")) == {"update_mask": {
        "name": "update_mask", "in": "query", "required": False,
        "schema": {"type": "string", "pattern": "<field mask>",
                   "description": "Comma-separated field paths in lowerCamelCase."},
    }}
    assert component(shelf_doc, SHELF + "Book")["properties"]["name"] == {"type": "string"}  # the component is whole


def test_whole_body_leaves_out_path_fields_and_has_no_query(shelf_doc) -> None:
    op = operation(shelf_doc, "post", "/v1/{parent}/books")
    body = body_schema(shelf_doc, "post", "/v1/{parent}/books")
    assert set(body["properties"]) == {"book", "book_id"} and body["required"] == ["book"]
    assert params(op, "query") == {}
    assert params(op, "path")["parent"]["schema"]["pattern"] == "^shelves/[^/]+$"


def test_query_parameters_are_the_scalar_leaves(shelf_doc) -> None:
    query = params(operation(shelf_doc, "get", "/v1/search"), "query")
    scalars = {name for name, _ in SCALAR_MAPPING} - {"nested", "filter", "many"}
    # Nested messages by dotted name, three parts at most; maps, Struct and repeated messages cannot be strings.
    assert set(query) == scalars | {"nested.label", "nested.ids", "nested.child.label", "nested.child.ids"}
    assert all(p["required"] is False for p in query.values())
    assert query["f_tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert query["f_tags"]["style"] == "form" and query["f_tags"]["explode"] is True
    assert patterns(query["nested.ids"]["schema"]) == {"type": "array", "items": INT64}
    assert patterns(query["f_int64"]["schema"]) == INT64 and "explode" not in query["f_int64"]
    assert query["f_enum"]["schema"] == ref(SHELF + "Color")
    assert patterns(query["limit"]["schema"]) == INT64  # a wrapper in a query is its plain scalar
    assert query["since"]["schema"] == DATE_TIME
    assert "requestBody" not in operation(shelf_doc, "get", "/v1/search")


def test_http_body_output_is_binary(shelf_doc) -> None:
    ok = operation(shelf_doc, "get", "/v1/{name}:download")["responses"]["200"]
    assert ok["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}


def test_deep_path_variable_with_regex_characters_in_its_literal(shelf_doc) -> None:
    op = operation(shelf_doc, "get", "/v2/{name}:download")
    assert op["operationId"] == "openapitest_v1_ShelfService_Download_1"
    schema = params(op, "path")["name"]["schema"]
    assert schema == {"type": "string", "pattern": r"^files\.v2/.+$"}
    assert json_schema_ok(shelf_doc, schema, "files.v2/a/b") and not json_schema_ok(shelf_doc, schema, "filesXv2/a")


def test_unnameable_http_methods_and_unannotated_rpcs_are_left_out(shelf_doc) -> None:
    operation_ids = {op["operationId"] for item in shelf_doc["paths"].values() for op in item.values()}
    assert not any(i.endswith(("ListBooks", "Unexposed")) for i in operation_ids)
    assert "/v1/books" not in shelf_doc["paths"]


