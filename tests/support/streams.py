"""Reading a streamed answer as a client does: NDJSON lines, or Server-Sent Events as EventSource parses them."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson


async def ndjson(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Each line of `response` as a JSON object, as it arrives."""
    async for line in response.aiter_lines():
        if line:
            yield orjson.loads(line)


async def sse(response: httpx.Response, *, comments: bool = False) -> AsyncIterator[dict[str, Any]]:
    """Each event of `response` as {"id", "event", "data" (parsed JSON), "retry"}, as it arrives (WHATWG rules:
    a blank line ends an event, `:` starts a comment); with `comments`, also {"comment": text}."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if event:
                yield {**event, "data": orjson.loads(event["data"])} if "data" in event else event
            event = {}
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if not field:
            if comments:
                yield {"comment": value}
        elif field == "data":
            event["data"] = event["data"] + "\n" + value if "data" in event else value
        elif field == "retry":
            event["retry"] = int(value)
        else:
            event[field] = value
