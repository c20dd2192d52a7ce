"""How the document describes a server-streaming route: both media types, and the schema of each event.

OpenAPI 3.1 cannot say what each item of a streamed body is (3.2 adds
`itemSchema` to the Media Type Object). So each media type's `schema` is the
body as text, and `x-itemSchema` gives the item the way 3.2's `itemSchema`
does:

- `application/x-ndjson`: a line is one message (proto3 JSON), or, last, an
  `Error`;
- `text/event-stream`: an event is `{id, event?, data, retry?}`, its `data`
  the JSON of one message, or of an `Error` when `event` is `error`.

The caps on open streams add a reason to the route's 429 and 503 (`ERRORS`).
"""
from __future__ import annotations

from typing import Any

from ..streaming.framing import NDJSON, SSE
from .schemas import REF_PREFIX, Schema

ITEM_SCHEMA = "x-itemSchema"
# status -> (component name, description, headers): replace the common 429 and 503 on streaming routes.
ERRORS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "429": ("TooManyStreamsOrRequests", "Rate limit of this caller and route exceeded, too many failed "
            "authentications from this address, or this caller has as many streams open as it may "
            "(RESOURCE_EXHAUSTED): close one first.", {}),
    "503": ("StreamServiceUnavailable", "The service is unavailable (circuit open or no healthy endpoint), or the "
            "gateway has as many streams open as it may.",
            {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}),
}


def stream_response(phrase: str, what: str, message: Schema) -> dict[str, Any]:
    """The success response of a streaming route whose messages are `what`, with JSON schema `message`."""
    item = {"anyOf": [message, {"$ref": REF_PREFIX + "Error"}]}
    event = {
        "type": "object",
        "required": ["id", "data"],
        "properties": {
            "id": {"type": "string", "description": "The event's number in this stream, from 1."},
            "event": {"type": "string", "enum": ["error"], "description": "Only on a last event that is an error."},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": item},
            "retry": {"type": "integer", "description": "On the first event: milliseconds an EventSource waits "
                      "before it reconnects."},
        },
    }
    return {
        "description": (
            f"{phrase}: a stream of {what}, one event per message, ending after the last. "
            f"`{NDJSON}` (one JSON object per line) unless `Accept` asks for `{SSE}` "
            "(Server-Sent Events, with a `: keep-alive` comment as a heartbeat). A failure after the first message "
            "is the last event, an `Error` (`event: error` in Server-Sent Events); one before it is an ordinary "
            "error response."
        ),
        "content": {
            NDJSON: {"schema": {"type": "string", "description": "JSON objects, one per line."}, ITEM_SCHEMA: item},
            SSE: {"schema": {"type": "string", "description": "Server-Sent Events."}, ITEM_SCHEMA: event},
        },
    }
