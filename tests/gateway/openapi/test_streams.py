"""The document of a server-streaming route: both media types, the event schema, the caps' errors."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.routes.table import load_routes, rpc_catalog
from gateway.upstream.rpc import RpcCatalog
from tests.support.ticker_server import TICKER_SERVICE

from .support import document_of, json_schema_ok, operation, ref, resolve

TICK = "/test/v1/ticks/{count}"
ERROR = {"error": {"code": 500, "status": "INTERNAL", "message": "internal error", "details": []}}


@pytest.fixture(scope="module")
def ticker_doc(ticker_catalog: RpcCatalog) -> dict[str, Any]:
    return document_of(load_routes(rpc_catalog([TICKER_SERVICE])))


def test_both_media_types_with_the_schema_of_each_item(ticker_doc: dict[str, Any]) -> None:
    ok = operation(ticker_doc, "get", TICK)["responses"]["200"]
    assert set(ok["content"]) == {"application/x-ndjson", "text/event-stream"}
    assert "text/event-stream" in ok["description"] and "`Error`" in ok["description"]
    line = ok["content"]["application/x-ndjson"]["x-itemSchema"]
    assert json_schema_ok(ticker_doc, line, {"n": 1, "text": "a"})
    assert json_schema_ok(ticker_doc, line, ERROR)
    assert not json_schema_ok(ticker_doc, line, {"n": "one"})
    event = ok["content"]["text/event-stream"]["x-itemSchema"]
    assert json_schema_ok(ticker_doc, event, {"id": "1", "data": '{"n": 1}', "retry": 3000})
    assert json_schema_ok(ticker_doc, event, {"id": "2", "event": "error", "data": "{}"})
    assert not json_schema_ok(ticker_doc, event, {"id": "2", "event": "message", "data": "{}"})
    assert event["properties"]["data"]["contentSchema"] == line


def test_the_caps_on_open_streams_are_among_its_errors(ticker_doc: dict[str, Any]) -> None:
    responses = operation(ticker_doc, "get", TICK)["responses"]
    too_many, unavailable = resolve(ticker_doc, responses["429"]), resolve(ticker_doc, responses["503"])
    assert "streams open" in too_many["description"] and "streams open" in unavailable["description"]
    assert too_many["content"] == {"application/json": {"schema": ref("Error")}}
    assert "Retry-After" in unavailable["headers"]
